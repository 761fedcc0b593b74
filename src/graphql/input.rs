//! One rule for every string a client sends, checked once before anything runs: no NUL.
//!
//! PostgreSQL text cannot hold U+0000 and SQLite would store it, so without this rule the same
//! input is an internal error on one backend and silently stored on the other. Every string in
//! the variables and every string literal in the document (arguments, directives, variable
//! defaults) is checked; a NUL anywhere refuses the whole request with `BAD_USER_INPUT`, before
//! a resolver or a transaction runs.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};
use async_graphql_value::{ConstValue, Value};

use crate::error::AppError;

pub struct StringInput;

impl ExtensionFactory for StringInput {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(StringInput)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for StringInput {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        for (name, value) in variables.iter() {
            if const_has_nul(value) {
                return Err(refused(&format!("variable ${name}")));
            }
        }
        let document = next.run(ctx, query, variables).await?;
        for (_, operation) in document.operations.iter() {
            let operation = &operation.node;
            for variable in &operation.variable_definitions {
                if variable
                    .node
                    .default_value
                    .as_ref()
                    .is_some_and(|v| const_has_nul(&v.node))
                {
                    return Err(refused(&format!("the default of ${}", variable.node.name.node)));
                }
            }
            check_directives(&operation.directives)?;
            check_selections(&operation.selection_set.node)?;
        }
        for fragment in document.fragments.values() {
            check_directives(&fragment.node.directives)?;
            check_selections(&fragment.node.selection_set.node)?;
        }
        Ok(document)
    }
}

fn refused(place: &str) -> ServerError {
    AppError::bad_input(
        place,
        format!("{place} holds a NUL character; strings may not contain U+0000"),
    )
    .into_server_error()
}

fn check_selections(set: &SelectionSet) -> ServerResult<()> {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                check_arguments(&field.node.arguments)?;
                check_directives(&field.node.directives)?;
                check_selections(&field.node.selection_set.node)?;
            }
            Selection::FragmentSpread(spread) => check_directives(&spread.node.directives)?,
            Selection::InlineFragment(inline) => {
                check_directives(&inline.node.directives)?;
                check_selections(&inline.node.selection_set.node)?;
            }
        }
    }
    Ok(())
}

fn check_directives(directives: &[Positioned<Directive>]) -> ServerResult<()> {
    directives
        .iter()
        .try_for_each(|directive| check_arguments(&directive.node.arguments))
}

fn check_arguments(arguments: &[(Positioned<Name>, Positioned<Value>)]) -> ServerResult<()> {
    match arguments.iter().find(|(_, value)| has_nul(&value.node)) {
        Some((name, _)) => Err(refused(&format!("argument {}", name.node))),
        None => Ok(()),
    }
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::List(items) => items.iter().any(has_nul),
        Value::Object(fields) => fields.iter().any(|(key, v)| key.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(s) => s.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields.iter().any(|(key, v)| key.contains('\0') || const_has_nul(v)),
        _ => false,
    }
}
