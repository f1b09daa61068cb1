//! Entity queries: a typed builder, and the string form
//! `entity_type=character&name=Ada&limit=10&offset=20` that parses into it.

use crate::{EntityQuery, Error, FieldFilter, Result};

impl EntityQuery {
    /// Every entity.
    pub fn all() -> Self {
        EntityQuery { entity_type: None, filters: Vec::new(), limit: None, offset: 0 }
    }

    /// Entities of one type.
    pub fn of_type(entity_type: &str) -> Self {
        EntityQuery { entity_type: Some(entity_type.to_string()), ..Self::all() }
    }

    /// Only entities whose data field `field` equals `value`.
    pub fn where_field(mut self, field: &str, value: &str) -> Self {
        self.filters.push(FieldFilter { field: field.to_string(), value: value.to_string() });
        self
    }

    /// At most `limit` entities.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skip the first `offset` entities.
    pub fn offset(mut self, offset: u32) -> Self {
        self.offset = offset;
        self
    }

    /// Parses `key=value` pairs joined by `&`. `entity_type`, `limit` and
    /// `offset` are the query's own keys; every other key filters a data field.
    /// Nothing is decoded or escaped: build queries from values you did not
    /// write yourself (a route parameter, a request body) with the typed
    /// builder, so an `&` in them cannot add a filter.
    pub fn parse(text: &str) -> Result<Self> {
        let mut query = Self::all();
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                Error::InvalidInput(format!("query pair `{pair}` has no `=`: use key=value"))
            })?;
            let number = |value: &str| {
                value.parse::<u32>().map_err(|_| {
                    Error::InvalidInput(format!("query `{key}` needs a whole number, got `{value}`"))
                })
            };
            match key {
                "" => {
                    return Err(Error::InvalidInput(format!("query pair `{pair}` has no key")));
                }
                "entity_type" => query.entity_type = Some(value.to_string()),
                "limit" => query.limit = Some(number(value)?),
                "offset" => query.offset = number(value)?,
                field => query = query.where_field(field, value),
            }
        }
        Ok(query)
    }
}

/// Anything [`host::entity_list`](crate::host::entity_list) accepts as a query.
pub trait IntoQuery {
    /// The typed query, or [`Error::InvalidInput`] when the text does not parse.
    fn into_query(self) -> Result<EntityQuery>;
}

impl IntoQuery for EntityQuery {
    fn into_query(self) -> Result<EntityQuery> {
        Ok(self)
    }
}

impl IntoQuery for &EntityQuery {
    fn into_query(self) -> Result<EntityQuery> {
        Ok(self.clone())
    }
}

impl IntoQuery for &str {
    fn into_query(self) -> Result<EntityQuery> {
        EntityQuery::parse(self)
    }
}

impl IntoQuery for &String {
    fn into_query(self) -> Result<EntityQuery> {
        EntityQuery::parse(self)
    }
}

impl IntoQuery for String {
    fn into_query(self) -> Result<EntityQuery> {
        EntityQuery::parse(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_form_parses_into_the_typed_query() {
        let query = EntityQuery::parse("entity_type=character&name=Ada&limit=10&offset=5").expect("parses");
        assert_eq!(query, EntityQuery::of_type("character").where_field("name", "Ada").limit(10).offset(5));
        assert_eq!(EntityQuery::parse("").expect("empty is all"), EntityQuery::all());
    }

    #[test]
    fn malformed_queries_are_invalid_input() {
        for text in ["entity_type", "=x", "limit=ten", "offset=-1"] {
            assert!(matches!(EntityQuery::parse(text), Err(Error::InvalidInput(_))), "{text}");
        }
    }
}
