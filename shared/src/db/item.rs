//! The item codec: every entity maps to an item through [`Record`] — its key, its type
//! word, its optional GSI1 entry and its fields, written with [`Writer`] and read back
//! with [`Reader`], whose errors name the item and the field.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::domain::money::Kobo;
use crate::error::StoreError;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The primary key of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
}

impl Key {
    /// A key from its two parts.
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Key {
        Key { pk: pk.into(), sk: sk.into() }
    }

    /// The attribute map form.
    pub fn item(&self) -> Item {
        HashMap::from([("PK".to_string(), s(&self.pk)), ("SK".to_string(), s(&self.sk))])
    }
}

/// An entity stored as one item.
pub trait Record: Sized {
    /// The item's `type` word.
    const TYPE: &'static str;
    /// Where it is stored.
    fn key(&self) -> Key;
    /// Its entry in the sparse GSI1, while it has one.
    fn gsi1(&self) -> Option<(String, String)> {
        None
    }
    /// Writes its fields.
    fn write(&self, w: Writer) -> Writer;
    /// Reads it back.
    fn read(r: &Reader<'_>) -> Result<Self, StoreError>;

    /// The whole item: key, type, GSI1 entry and fields.
    fn to_item(&self) -> Item {
        let key = self.key();
        let mut w = Writer(key.item()).s("type", Self::TYPE);
        if let Some((pk, sk)) = self.gsi1() {
            w = w.s("GSI1PK", pk).s("GSI1SK", sk);
        }
        self.write(w).0
    }

    /// Reads an item.
    fn from_item(item: &Item) -> Result<Self, StoreError> {
        Self::read(&Reader::new(item))
    }
}

/// Builds the fields of an item.
#[derive(Debug, Default)]
pub struct Writer(pub Item);

impl Writer {
    /// A string field.
    pub fn s(mut self, field: &str, v: impl Into<String>) -> Writer {
        self.0.insert(field.to_string(), s(v));
        self
    }

    /// A string field when present.
    pub fn opt_s(self, field: &str, v: Option<&String>) -> Writer {
        match v {
            Some(v) => self.s(field, v),
            None => self,
        }
    }

    /// A number field.
    pub fn n(mut self, field: &str, v: impl ToString) -> Writer {
        self.0.insert(field.to_string(), n(v));
        self
    }

    /// An amount of kobo.
    pub fn kobo(self, field: &str, v: Kobo) -> Writer {
        self.n(field, v.as_i64())
    }

    /// A boolean field.
    pub fn bool(mut self, field: &str, v: bool) -> Writer {
        self.0.insert(field.to_string(), AttributeValue::Bool(v));
        self
    }

    /// A list of strings.
    pub fn list(mut self, field: &str, v: &[String]) -> Writer {
        self.0.insert(field.to_string(), str_list(v));
        self
    }

    /// Any attribute.
    pub fn raw(mut self, field: &str, v: AttributeValue) -> Writer {
        self.0.insert(field.to_string(), v);
        self
    }
}

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
        self.i64(field).map(Kobo::new)
    }

    /// A required field parsed from its stored word (statuses, categories).
    pub fn word<T>(&self, field: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
        let v = self.s(field)?;
        parse(&v).ok_or_else(|| self.corrupt(field, &format!("unknown word {v:?}")))
    }

    /// A JSON document stored as a string, or `default` when absent or unreadable.
    pub fn json<T: serde::de::DeserializeOwned>(&self, field: &str, default: T) -> Result<T, StoreError> {
        Ok(self.opt_s(field)?.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(default))
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
