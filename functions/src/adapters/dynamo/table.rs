//! The table definition in `migrations/dynamodb/table.json`, and creating a table from it
//! (local stack and tests; production creates it from template.yaml).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde::Deserialize;

use crate::adapters::aws::SdkFailure;
use crate::domain::ports::StoreError;

const TABLE_JSON: &str = include_str!("../../../../migrations/dynamodb/table.json");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDefinition {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexDef>,
    pub billing_mode: String,
    pub time_to_live_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyDef>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionDef {
    pub projection_type: String,
}

/// The definition checked into `migrations/`. It is compiled in, so a malformed file fails
/// the unit test below rather than a deployment.
pub fn definition() -> Result<TableDefinition, serde_json::Error> {
    serde_json::from_str(TABLE_JSON)
}

fn build_error(err: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(format!("table definition: {err}"))
}

fn key_schema(keys: &[KeyDef]) -> Result<Vec<KeySchemaElement>, StoreError> {
    keys.iter()
        .map(|key| {
            KeySchemaElement::builder()
                .attribute_name(&key.attribute_name)
                .key_type(KeyType::from(key.key_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// Creates `table_name` from the definition unless it exists already.
pub async fn ensure_table(client: &Client, table_name: &str) -> Result<(), StoreError> {
    let definition = definition().map_err(build_error)?;
    match client.describe_table().table_name(table_name).send().await {
        Ok(_) => return Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(SdkFailure::from(err).into()),
    }
    let attributes = definition
        .attribute_definitions
        .iter()
        .map(|attribute| {
            AttributeDefinition::builder()
                .attribute_name(&attribute.attribute_name)
                .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = definition
        .global_secondary_indexes
        .iter()
        .map(|index| {
            GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
                .set_key_schema(Some(key_schema(&index.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            index.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(table_name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&definition.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::from(definition.billing_mode.as_str()))
        .send()
        .await
        .map_err(SdkFailure::from)?;
    if let Some(attribute) = &definition.time_to_live_attribute {
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(SdkFailure::from)?;
    }
    tracing::info!(table = table_name, "created table");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_definition_parses_and_keys_are_declared() {
        let definition = definition().expect("migrations/dynamodb/table.json parses");
        let declared: Vec<&str> = definition
            .attribute_definitions
            .iter()
            .map(|attribute| attribute.attribute_name.as_str())
            .collect();
        let used = definition.key_schema.iter().chain(
            definition
                .global_secondary_indexes
                .iter()
                .flat_map(|index| &index.key_schema),
        );
        for key in used {
            assert!(
                declared.contains(&key.attribute_name.as_str()),
                "{} undeclared",
                key.attribute_name
            );
        }
        assert_eq!(definition.time_to_live_attribute.as_deref(), Some("ttl"));
    }
}
