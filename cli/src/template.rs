//! Reads `template.yaml`, the one source of truth for resources and routes, into what the
//! local stack needs: tables, queues, secrets and HTTP routes.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_norway::Value;

/// A DynamoDB table as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Logical id in the template.
    pub logical_id: String,
    /// `(name, type)` of each attribute definition.
    pub attributes: Vec<(String, String)>,
    /// `(name, HASH|RANGE)`.
    pub key_schema: Vec<(String, String)>,
    /// Global secondary indexes.
    pub gsis: Vec<GsiSpec>,
    /// TTL attribute, when enabled.
    pub ttl_attribute: Option<String>,
    /// Stream view type, when streams are on.
    pub stream_view: Option<String>,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq)]
pub struct GsiSpec {
    /// Index name.
    pub name: String,
    /// `(name, HASH|RANGE)`.
    pub key_schema: Vec<(String, String)>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
}

/// An SQS queue as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// Logical id.
    pub logical_id: String,
    /// Visibility timeout, seconds.
    pub visibility_timeout: Option<i64>,
    /// Dead-letter queue (logical id) and max receive count.
    pub dead_letter: Option<(String, i64)>,
}

/// A Secrets Manager secret as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretSpec {
    /// Logical id.
    pub logical_id: String,
    /// The JSON key the generated value goes under.
    pub generate_key: String,
    /// Generated value length.
    pub length: usize,
    /// The fixed fields the generated one is added to (`SecretStringTemplate`).
    pub fixed: serde_json::Map<String, serde_json::Value>,
}

/// An HTTP route served by a function.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// HTTP method, upper case (`ANY` allowed).
    pub method: String,
    /// Path, e.g. `/api/v1`; a trailing `/{proxy+}` matches any suffix.
    pub path: String,
    /// Logical id of the function.
    pub function: String,
}

/// A Lambda function as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// Logical id, e.g. `ApiFunction`.
    pub logical_id: String,
    /// Its `Timeout` (the function's own, else `Globals.Function.Timeout`, else Lambda's 3 s).
    pub timeout_secs: u64,
    /// Its `Policies`, as written (intrinsics unresolved); see [`Template::policy_document`].
    pub policies: Vec<Value>,
}

/// Lambda's timeout when a template sets none.
pub const LAMBDA_DEFAULT_TIMEOUT_SECS: u64 = 3;

/// What the local stack takes from the template.
#[derive(Debug, Clone, Default)]
pub struct Template {
    /// Functions.
    pub functions: Vec<FunctionSpec>,
    /// Tables.
    pub tables: Vec<TableSpec>,
    /// Queues.
    pub queues: Vec<QueueSpec>,
    /// Secrets.
    pub secrets: Vec<SecretSpec>,
    /// HTTP routes.
    pub routes: Vec<Route>,
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(key))
}

fn string(v: &Value, what: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => bail!("{what} must be a plain value, found {v:?}"),
    }
}

fn key_schema(v: Option<&Value>, what: &str) -> Result<Vec<(String, String)>> {
    let seq = v.and_then(Value::as_sequence).ok_or_else(|| anyhow!("{what}: KeySchema missing"))?;
    seq.iter()
        .map(|k| {
            let name = get(k, "AttributeName").ok_or_else(|| anyhow!("{what}: AttributeName missing"))?;
            let kind = get(k, "KeyType").ok_or_else(|| anyhow!("{what}: KeyType missing"))?;
            Ok((string(name, what)?, string(kind, what)?))
        })
        .collect()
}

fn lookup(names: &HashMap<String, String>, key: &str) -> Result<String> {
    names.get(key).cloned().ok_or_else(|| anyhow!("{key} is not known to the local stack"))
}

/// `v` as JSON with its intrinsics replaced (see [`Template::policy_document`]).
fn resolve(v: &Value, names: &HashMap<String, String>) -> Result<serde_json::Value> {
    use serde_json::Value as J;
    let sub = |text: &str| -> Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| anyhow!("unclosed ${{ in {text}"))? + start;
            out.push_str(&lookup(names, &rest[start + 2..end])?);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    };
    let intrinsic = |tag: &str, arg: &Value| -> Result<J> {
        let text = match (tag, arg) {
            ("GetAtt", Value::Sequence(seq)) => {
                let parts: Vec<&str> = seq.iter().filter_map(Value::as_str).collect();
                lookup(names, &parts.join("."))?
            }
            ("GetAtt" | "Ref", Value::String(x)) => lookup(names, x)?,
            ("Sub", Value::String(x)) => sub(x)?,
            _ => bail!("unsupported intrinsic {tag} {arg:?}"),
        };
        Ok(J::String(text))
    };
    Ok(match v {
        Value::Tagged(t) => intrinsic(t.tag.to_string().trim_start_matches('!'), &t.value)?,
        Value::Mapping(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().ok_or_else(|| anyhow!("empty mapping"))?;
            match k.as_str() {
                Some("Ref") => intrinsic("Ref", inner)?,
                Some(f @ ("Fn::GetAtt" | "Fn::Sub")) => intrinsic(&f[4..], inner)?,
                _ => J::Object(resolve_map(m, names)?),
            }
        }
        Value::Mapping(m) => J::Object(resolve_map(m, names)?),
        Value::Sequence(seq) => J::Array(seq.iter().map(|x| resolve(x, names)).collect::<Result<_>>()?),
        Value::String(x) => J::String(x.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::to_value(n.as_f64()).unwrap_or(J::Null),
        Value::Null => J::Null,
    })
}

fn resolve_map(
    m: &serde_norway::Mapping,
    names: &HashMap<String, String>,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    m.iter().map(|(k, v)| Ok((string(k, "policy key")?, resolve(v, names)?))).collect()
}

/// Logical id named by `!GetAtt X.Arn` (or `Fn::GetAtt: [X, Arn]`).
fn get_att_target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => match &t.value {
            Value::String(s) => s.split('.').next().map(str::to_string),
            Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_string),
            _ => None,
        },
        Value::Mapping(m) => m.get("Fn::GetAtt").and_then(|x| match x {
            Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_string),
            Value::String(s) => s.split('.').next().map(str::to_string),
            _ => None,
        }),
        _ => None,
    }
}

impl Template {
    /// The IAM policy document of `function`: every statement of its inline `Policies`,
    /// with `!GetAtt X.Attr`, `!Ref X` and `!Sub "...${X.Attr}..."` replaced by what
    /// `names` maps `X.Attr` / `X` / `AWS::Region` to. SAM policy templates and managed
    /// policy names are refused: the local stack enforces only what it can read.
    pub fn policy_document(&self, function: &str, names: &HashMap<String, String>) -> Result<serde_json::Value> {
        let f = self
            .functions
            .iter()
            .find(|f| f.logical_id == function)
            .ok_or_else(|| anyhow!("template has no function {function}"))?;
        let mut statements = Vec::new();
        for policy in &f.policies {
            let list = get(policy, "Statement").and_then(Value::as_sequence).ok_or_else(|| {
                anyhow!("{function}: only inline policy documents are supported locally, found {policy:?}")
            })?;
            for st in list {
                statements.push(resolve(st, names).with_context(|| format!("{function}: resolving a policy"))?);
            }
        }
        Ok(serde_json::json!({ "Version": "2012-10-17", "Statement": statements }))
    }

    /// Reads and interprets a template file.
    pub fn load(path: &Path) -> Result<Template> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Template::parse(&text).with_context(|| format!("interpreting {}", path.display()))
    }

    /// Interprets template text.
    pub fn parse(text: &str) -> Result<Template> {
        let doc: Value = serde_norway::from_str(text).context("template is not valid YAML")?;
        let resources =
            get(&doc, "Resources").and_then(Value::as_mapping).ok_or_else(|| anyhow!("template has no Resources"))?;
        let mut t = Template::default();
        let default_timeout = get(&doc, "Globals")
            .and_then(|g| get(g, "Function"))
            .and_then(|f| get(f, "Timeout"))
            .and_then(Value::as_u64)
            .unwrap_or(LAMBDA_DEFAULT_TIMEOUT_SECS);
        for (id, res) in resources {
            let id = string(id, "resource id")?;
            let kind = get(res, "Type").and_then(Value::as_str).unwrap_or_default();
            let props = get(res, "Properties").cloned().unwrap_or(Value::Null);
            match kind {
                "AWS::DynamoDB::Table" => t.tables.push(table(&id, &props)?),
                "AWS::SQS::Queue" => t.queues.push(queue(&id, &props)?),
                "AWS::SecretsManager::Secret" => t.secrets.push(secret(&id, &props)?),
                "AWS::Serverless::Function" => {
                    let timeout_secs = get(&props, "Timeout").and_then(Value::as_u64).unwrap_or(default_timeout);
                    t.routes.extend(routes(&id, &props)?);
                    let policies = get(&props, "Policies").and_then(Value::as_sequence).cloned().unwrap_or_default();
                    t.functions.push(FunctionSpec { logical_id: id, timeout_secs, policies });
                }
                _ => {}
            }
        }
        Ok(t)
    }
}

fn table(id: &str, p: &Value) -> Result<TableSpec> {
    let attributes = get(p, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("{id}: AttributeDefinitions missing"))?
        .iter()
        .map(|a| {
            let name = get(a, "AttributeName").ok_or_else(|| anyhow!("{id}: AttributeName missing"))?;
            let kind = get(a, "AttributeType").ok_or_else(|| anyhow!("{id}: AttributeType missing"))?;
            Ok((string(name, id)?, string(kind, id)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let gsis = match get(p, "GlobalSecondaryIndexes").and_then(Value::as_sequence) {
        None => Vec::new(),
        Some(seq) => seq
            .iter()
            .map(|g| {
                let name = string(get(g, "IndexName").ok_or_else(|| anyhow!("{id}: IndexName missing"))?, id)?;
                let projection = get(g, "Projection")
                    .and_then(|p| get(p, "ProjectionType"))
                    .map(|v| string(v, id))
                    .transpose()?
                    .unwrap_or_else(|| "ALL".into());
                Ok(GsiSpec { key_schema: key_schema(get(g, "KeySchema"), &name)?, name, projection })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    let ttl = get(p, "TimeToLiveSpecification");
    let ttl_attribute = match ttl {
        Some(t) if get(t, "Enabled").and_then(Value::as_bool).unwrap_or(false) => {
            get(t, "AttributeName").map(|v| string(v, id)).transpose()?
        }
        _ => None,
    };
    let stream_view =
        get(p, "StreamSpecification").and_then(|s| get(s, "StreamViewType")).map(|v| string(v, id)).transpose()?;
    Ok(TableSpec {
        logical_id: id.to_string(),
        attributes,
        key_schema: key_schema(get(p, "KeySchema"), id)?,
        gsis,
        ttl_attribute,
        stream_view,
    })
}

fn queue(id: &str, p: &Value) -> Result<QueueSpec> {
    let visibility_timeout = get(p, "VisibilityTimeout").and_then(Value::as_i64);
    let dead_letter = match get(p, "RedrivePolicy") {
        None => None,
        Some(r) => {
            let target = get(r, "deadLetterTargetArn")
                .and_then(get_att_target)
                .ok_or_else(|| anyhow!("{id}: RedrivePolicy.deadLetterTargetArn must be !GetAtt <Queue>.Arn"))?;
            let max = get(r, "maxReceiveCount").and_then(Value::as_i64).unwrap_or(5);
            Some((target, max))
        }
    };
    Ok(QueueSpec { logical_id: id.to_string(), visibility_timeout, dead_letter })
}

fn secret(id: &str, p: &Value) -> Result<SecretSpec> {
    let g =
        get(p, "GenerateSecretString").ok_or_else(|| anyhow!("{id}: only generated secrets are supported locally"))?;
    Ok(SecretSpec {
        logical_id: id.to_string(),
        generate_key: get(g, "GenerateStringKey").map(|v| string(v, id)).transpose()?.unwrap_or_else(|| "value".into()),
        length: get(g, "PasswordLength").and_then(Value::as_u64).unwrap_or(32) as usize,
        fixed: match get(g, "SecretStringTemplate").and_then(Value::as_str) {
            Some(t) => {
                serde_json::from_str(t).map_err(|e| anyhow!("{id}: SecretStringTemplate is not a JSON object: {e}"))?
            }
            None => serde_json::Map::new(),
        },
    })
}

fn routes(id: &str, p: &Value) -> Result<Vec<Route>> {
    let mut out = Vec::new();
    if let Some(events) = get(p, "Events").and_then(Value::as_mapping) {
        for (_, ev) in events {
            if get(ev, "Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = get(ev, "Properties").ok_or_else(|| anyhow!("{id}: HttpApi event without Properties"))?;
            let path = string(get(props, "Path").ok_or_else(|| anyhow!("{id}: HttpApi event without Path"))?, id)?;
            let method = get(props, "Method").map(|m| string(m, id)).transpose()?.unwrap_or_else(|| "ANY".into());
            out.push(Route { method: method.to_ascii_uppercase(), path, function: id.to_string() });
        }
    }
    Ok(out)
}

impl Template {
    /// The `Timeout` of function `logical_id`; an error when the template has no such function.
    pub fn timeout(&self, logical_id: &str) -> Result<std::time::Duration> {
        self.functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .map(|f| std::time::Duration::from_secs(f.timeout_secs))
            .ok_or_else(|| anyhow!("template has no function {logical_id}"))
    }
}

impl Route {
    /// Whether the route serves `method` on `path`.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.method == "ANY" || self.method.eq_ignore_ascii_case(method);
        let path_ok = match self.path.strip_suffix("/{proxy+}") {
            Some(prefix) => path.starts_with(&format!("{prefix}/")),
            None => {
                // A `{name}` segment matches any one non-empty segment.
                let (want, got): (Vec<&str>, Vec<&str>) = (self.path.split('/').collect(), path.split('/').collect());
                let param = |w: &str| w.starts_with('{') && w.ends_with('}');
                (self.path == "/" && path.is_empty())
                    || (want.len() == got.len()
                        && want.iter().zip(&got).all(|(w, g)| w == g || (param(w) && !g.is_empty())))
            }
        };
        method_ok && path_ok
    }

    /// The `routeKey` API Gateway puts in events: `POST /api/v1`.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_project_template() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
        let t = Template::load(&path).unwrap_or_default();
        assert_eq!(t.tables.len(), 1);
        let table = &t.tables[0];
        assert_eq!(table.key_schema, vec![("PK".into(), "HASH".into()), ("SK".into(), "RANGE".into())]);
        assert_eq!(table.ttl_attribute.as_deref(), Some("expires_at"));
        assert!(table.stream_view.is_some());
        assert!(table.gsis.iter().any(|g| g.name == "GSI1"));
        let q = t.queues.iter().find(|q| q.logical_id == "WebhookQueue");
        assert_eq!(q.and_then(|q| q.dead_letter.clone()), Some(("WebhookDeadLetterQueue".into(), 5)));
        for ring in ["PinPepperSecret", "CallbackKeySecret", "VaultKeySecret"] {
            let s = t.secrets.iter().find(|s| s.logical_id == ring).unwrap_or_else(|| panic!("no {ring}"));
            assert_eq!((s.generate_key.as_str(), s.fixed.get("current")), ("k1", Some(&serde_json::json!("k1"))));
        }
        assert!(t.routes.iter().any(|r| r.function == "ApiFunction" && r.matches("POST", "/api/v1")));
        assert!(!t.routes.iter().any(|r| r.matches("GET", "/api/v1")));
        let vtpass = |p: &str| t.routes.iter().any(|r| r.function == "CallbacksFunction" && r.matches("POST", p));
        assert!(vtpass("/callbacks/vtpass/k1.abc"), "a {{secret}} segment matches one segment");
        assert!(!vtpass("/callbacks/vtpass/") && !vtpass("/callbacks/vtpass/a/b"));
        let secs = |id: &str| t.timeout(id).map(|d| d.as_secs()).ok();
        assert_eq!(secs("ApiFunction"), Some(15), "Globals.Function.Timeout");
        assert_eq!(secs("CallbacksFunction"), Some(10));
        assert_eq!(secs("ReconcilerFunction"), Some(60));
        assert_eq!(
            t.timeout("ReconcilerFunction").ok(),
            Some(kobo_reconciler::FUNCTION_TIMEOUT),
            "the reconciler's passes budget its template Timeout"
        );
        assert_eq!(secs("RelayFunction"), Some(30));
        assert_eq!(secs("NoSuchFunction"), None);
    }

    #[test]
    fn a_function_without_timeout_gets_lambdas_default() {
        let t = Template::parse("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n")
            .unwrap_or_default();
        assert_eq!(t.timeout("F").map(|d| d.as_secs()).ok(), Some(LAMBDA_DEFAULT_TIMEOUT_SECS));
    }
}
