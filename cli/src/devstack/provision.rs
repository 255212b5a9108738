//! Creates the template's tables, queues and secrets in the emulator through the real SDK.

use std::collections::HashMap;

use anyhow::{anyhow, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use rand::distr::{Alphanumeric, SampleString};

use crate::template::{GsiSpec, Template};

/// Names of what was created, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    /// Table names.
    pub tables: HashMap<String, String>,
    /// Queue URLs.
    pub queues: HashMap<String, String>,
    /// Secret names.
    pub secrets: HashMap<String, String>,
    /// What the template's intrinsics name: `X.Arn`, `X.StreamArn`, `X` (a `!Ref`),
    /// `AWS::Region`, ... (for the functions' policies).
    pub names: HashMap<String, String>,
}

impl Provisioned {
    /// The one table kobo uses (logical id `Table`).
    pub fn table(&self) -> Result<&str> {
        self.tables.get("Table").map(String::as_str).ok_or_else(|| anyhow!("template has no Table"))
    }

    /// A secret by logical id.
    pub fn secret(&self, logical_id: &str) -> Result<&str> {
        self.secrets.get(logical_id).map(String::as_str).ok_or_else(|| anyhow!("template has no {logical_id}"))
    }

    /// Points `config` at the provisioned secrets (the three key rings and the provider
    /// credentials).
    pub fn configure_secrets(&self, config: &mut kobo_shared::platform::config::Config) -> Result<()> {
        config.pin_pepper_secret_id = self.secret("PinPepperSecret")?.to_string();
        config.callback_key_secret_id = self.secret("CallbackKeySecret")?.to_string();
        config.vault_key_secret_id = self.secret("VaultKeySecret")?.to_string();
        config.provider_secret_id = self.secret("ProviderSecret")?.to_string();
        Ok(())
    }
}

fn keys(schema: &[(String, String)]) -> Result<Vec<KeySchemaElement>> {
    schema
        .iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()
                .context("key schema")
        })
        .collect()
}

fn gsi(g: &GsiSpec) -> Result<GlobalSecondaryIndex> {
    GlobalSecondaryIndex::builder()
        .index_name(&g.name)
        .set_key_schema(Some(keys(&g.key_schema)?))
        .projection(Projection::builder().projection_type(ProjectionType::from(g.projection.as_str())).build())
        .build()
        .context("global secondary index")
}

/// A random alphanumeric secret of `len` characters.
pub fn random_secret(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

/// Creates every resource of `template`, names prefixed with `prefix`.
pub async fn provision(sdk: &SdkConfig, template: &Template, prefix: &str) -> Result<Provisioned> {
    let mut out = Provisioned::default();
    for (k, v) in [("AWS::Region", "us-east-1"), ("AWS::AccountId", "123456789012"), ("AWS::Partition", "aws")] {
        out.names.insert(k.to_string(), v.to_string());
    }
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    for t in &template.tables {
        let name = format!("{prefix}-{}", t.logical_id);
        let attrs = t
            .attributes
            .iter()
            .map(|(n, k)| {
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::from(k.as_str()))
                    .build()
                    .context("attribute definition")
            })
            .collect::<Result<Vec<_>>>()?;
        let mut req = ddb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(attrs))
            .set_key_schema(Some(keys(&t.key_schema)?));
        for g in &t.gsis {
            req = req.global_secondary_indexes(gsi(g)?);
        }
        if let Some(view) = &t.stream_view {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
                    .build()
                    .context("stream specification")?,
            );
        }
        req.send().await.with_context(|| format!("creating table {name}"))?;
        if let Some(attr) = &t.ttl_attribute {
            ddb.update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder().attribute_name(attr).enabled(true).build().context("ttl")?,
                )
                .send()
                .await
                .with_context(|| format!("enabling TTL on {name}"))?;
        }
        let described = ddb.describe_table().table_name(&name).send().await.context("describing the table")?;
        let table = described.table.ok_or_else(|| anyhow!("table {name} has no description"))?;
        out.names.insert(format!("{}.Arn", t.logical_id), table.table_arn.unwrap_or_default());
        if let Some(stream) = table.latest_stream_arn {
            out.names.insert(format!("{}.StreamArn", t.logical_id), stream);
        }
        out.names.insert(t.logical_id.clone(), name.clone());
        out.tables.insert(t.logical_id.clone(), name);
    }

    let sqs = aws_sdk_sqs::Client::new(sdk);
    // Dead-letter queues first, so redrive policies can name their ARNs.
    let mut ordered: Vec<_> = template.queues.iter().collect();
    ordered.sort_by_key(|q| q.dead_letter.is_some());
    let mut arns: HashMap<String, String> = HashMap::new();
    for q in ordered {
        let name = format!("{prefix}-{}", q.logical_id);
        let mut req = sqs.create_queue().queue_name(&name);
        if let Some(v) = q.visibility_timeout {
            req = req.attributes(QueueAttributeName::VisibilityTimeout, v.to_string());
        }
        if let Some((dlq, max)) = &q.dead_letter {
            let arn = arns.get(dlq).ok_or_else(|| anyhow!("queue {} names unknown DLQ {dlq}", q.logical_id))?;
            let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max }).to_string();
            req = req.attributes(QueueAttributeName::RedrivePolicy, policy);
        }
        let url = req.send().await.with_context(|| format!("creating queue {name}"))?.queue_url.unwrap_or_default();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .with_context(|| format!("reading queue {name}"))?;
        if let Some(arn) = attrs.attributes.and_then(|mut a| a.remove(&QueueAttributeName::QueueArn)) {
            out.names.insert(format!("{}.Arn", q.logical_id), arn.clone());
            arns.insert(q.logical_id.clone(), arn);
        }
        out.names.insert(q.logical_id.clone(), url.clone());
        out.queues.insert(q.logical_id.clone(), url);
    }

    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    for s in &template.secrets {
        let name = format!("{prefix}/{}", s.logical_id);
        let value = Alphanumeric.sample_string(&mut rand::rng(), s.length.clamp(16, 4096));
        let mut body = s.fixed.clone();
        body.insert(s.generate_key.clone(), serde_json::Value::String(value));
        let body = serde_json::Value::Object(body).to_string();
        let created = sm
            .create_secret()
            .name(&name)
            .secret_string(body)
            .send()
            .await
            .with_context(|| format!("creating secret {name}"))?;
        // `!Ref` of a secret is its ARN.
        out.names.insert(s.logical_id.clone(), created.arn.unwrap_or_default());
        out.secrets.insert(s.logical_id.clone(), name);
    }
    Ok(out)
}

/// Gives every function of `template` an IAM user in the emulator with exactly its
/// template policy, and turns IAM enforcement on (the default local credentials stay an
/// operator allowed everything). Each function's credentials, by logical id.
pub async fn enforce_iam(
    endpoint: &str,
    template: &Template,
    resources: &Provisioned,
) -> Result<HashMap<String, aws_sdk_dynamodb::config::Credentials>> {
    let mut users = serde_json::Map::new();
    for f in &template.functions {
        users.insert(f.logical_id.clone(), template.policy_document(&f.logical_id, &resources.names)?);
    }
    let r = reqwest::Client::new()
        .post(format!("{endpoint}/_kobo/iam"))
        .json(&serde_json::json!({ "users": users }))
        .send()
        .await
        .context("asking the emulator to enforce IAM")?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.context("reading the emulator's IAM answer")?;
    if !status.is_success() {
        anyhow::bail!("the emulator refused the functions' policies: {body}");
    }
    let mut out = HashMap::new();
    for f in &template.functions {
        let key = &body[&f.logical_id];
        let (Some(id), Some(secret)) = (key["access_key_id"].as_str(), key["secret_access_key"].as_str()) else {
            anyhow::bail!("the emulator gave {} no access key", f.logical_id);
        };
        out.insert(
            f.logical_id.clone(),
            aws_sdk_dynamodb::config::Credentials::new(id, secret, None, None, "kobo-local-iam"),
        );
    }
    Ok(out)
}
