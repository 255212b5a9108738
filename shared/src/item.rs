//! Reading and writing DynamoDB attribute maps, with errors that name the item and field.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::error::StoreError;
use crate::money::Kobo;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A list of strings attribute (possibly empty, unlike a string set).
pub fn str_list(v: &[String]) -> AttributeValue {
    AttributeValue::L(v.iter().cloned().map(AttributeValue::S).collect())
}

/// Typed reads from one item; errors name the item's keys and the field.
pub struct Reader<'a> {
    item: &'a Item,
}

impl<'a> Reader<'a> {
    /// Wraps an item.
    pub fn new(item: &'a Item) -> Self {
        Reader { item }
    }

    fn corrupt(&self, field: &str, what: &str) -> StoreError {
        let pk = self.item.get("PK").and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
        let sk = self.item.get("SK").and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or("?");
        StoreError::Corrupt(format!("{pk}/{sk}"), format!("{field}: {what}"))
    }

    /// A required string.
    pub fn s(&self, field: &str) -> Result<String, StoreError> {
        self.opt_s(field)?.ok_or_else(|| self.corrupt(field, "missing"))
    }

    /// An optional string.
    pub fn opt_s(&self, field: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(field, "not a string")),
        }
    }

    /// A required integer.
    pub fn i64(&self, field: &str) -> Result<i64, StoreError> {
        self.opt_i64(field)?.ok_or_else(|| self.corrupt(field, "missing"))
    }

    /// An optional integer.
    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, StoreError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| self.corrupt(field, "not an integer")),
            Some(_) => Err(self.corrupt(field, "not a number")),
        }
    }

    /// An optional non-negative integer that fits in `u32`, or `default`.
    pub fn u32_or(&self, field: &str, default: u32) -> Result<u32, StoreError> {
        match self.opt_i64(field)? {
            None => Ok(default),
            Some(v) => u32::try_from(v).map_err(|_| self.corrupt(field, "out of range")),
        }
    }

    /// A required non-negative integer.
    pub fn u64(&self, field: &str) -> Result<u64, StoreError> {
        u64::try_from(self.i64(field)?).map_err(|_| self.corrupt(field, "negative"))
    }

    /// A required amount of kobo.
    pub fn kobo(&self, field: &str) -> Result<Kobo, StoreError> {
        self.i64(field).map(Kobo)
    }

    /// A boolean, `false` when absent.
    pub fn bool(&self, field: &str) -> Result<bool, StoreError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(false),
            Some(AttributeValue::Bool(b)) => Ok(*b),
            Some(_) => Err(self.corrupt(field, "not a boolean")),
        }
    }

    /// A list of strings, empty when absent.
    pub fn str_list(&self, field: &str) -> Result<Vec<String>, StoreError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
            Some(AttributeValue::L(items)) => items
                .iter()
                .map(|v| v.as_s().cloned().map_err(|_| self.corrupt(field, "list entry not a string")))
                .collect(),
            Some(AttributeValue::Ss(v)) => Ok(v.clone()),
            Some(_) => Err(self.corrupt(field, "not a list")),
        }
    }

    /// A map of string → non-negative integer, empty when absent.
    pub fn u32_map(&self, field: &str) -> Result<Vec<(String, u32)>, StoreError> {
        match self.item.get(field) {
            None | Some(AttributeValue::Null(_)) => Ok(Vec::new()),
            Some(AttributeValue::M(m)) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let n = v
                        .as_n()
                        .ok()
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(|| self.corrupt(field, "map value not a small integer"))?;
                    out.push((k.clone(), n));
                }
                out.sort();
                Ok(out)
            }
            Some(_) => Err(self.corrupt(field, "not a map")),
        }
    }
}
