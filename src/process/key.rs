//! The store key: `store.key.partition.value` and `store.key.sort.value` rendered against a
//! record's typed fields and its `feed` (what `validate` lets a key template use).
//!
//! Templates are Handlebars in strict mode with no HTML escaping (`S&P` stays `S&P`). A template
//! that is exactly one `{{field}}` is a direct lookup of that field, which renders the same text
//! without Handlebars' per-render setup.

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{Handlebars, RenderErrorReason};
use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::{Key, Poison};
use crate::config::model::{KeyAttribute, TableKey};
use crate::config::template::{self, HELPERS};
use crate::diag::Diagnostic;

/// DynamoDB's limits on key values, in bytes.
const PARTITION_MAX_BYTES: usize = 2048;
const SORT_MAX_BYTES: usize = 1024;

/// The key templates, compiled.
#[derive(Clone)]
pub(crate) struct KeyRenderer {
    registry: Handlebars<'static>,
    partition: KeyTemplate,
    sort: Option<KeyTemplate>,
}

#[derive(Clone)]
struct KeyTemplate {
    role: &'static str,
    text: String,
    max_bytes: usize,
    how: Render,
}

#[derive(Clone)]
enum Render {
    /// The template is `{{name}}` for a declared field.
    Field(String),
    /// Anything else, registered in the Handlebars registry under `role`.
    Handlebars,
}

impl KeyRenderer {
    /// Compiles the key templates; `fields` are the declared field names. The error lists the
    /// templates that do not compile.
    pub fn new(key: &TableKey, fields: &[&str]) -> Result<KeyRenderer, Vec<Diagnostic>> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        let mut compile = |role: &'static str, attribute: &KeyAttribute, max_bytes| {
            let value = &attribute.value;
            let template = template::compile(value, &format!("store.key.{role}.value"))?;
            let how = match single_reference(&template) {
                Some(name) if fields.contains(&name) => Render::Field(name.to_owned()),
                _ => {
                    registry.register_template(role, template);
                    Render::Handlebars
                }
            };
            Ok::<_, Diagnostic>(KeyTemplate {
                role,
                text: value.value.clone(),
                max_bytes,
                how,
            })
        };
        let partition = compile("partition", &key.partition, PARTITION_MAX_BYTES);
        let sort = key
            .sort
            .as_ref()
            .map(|sort| compile("sort", sort, SORT_MAX_BYTES))
            .transpose();
        match (partition, sort) {
            (Ok(partition), Ok(sort)) => Ok(KeyRenderer {
                registry,
                partition,
                sort,
            }),
            (partition, sort) => Err([partition.err(), sort.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }

    /// The key of a record with these typed fields and feed.
    pub fn render(
        &self,
        fields: &IndexMap<String, Value>,
        feed: &Map<String, Value>,
    ) -> Result<Key, Poison> {
        let mut context = None;
        let partition = self
            .partition
            .render(&self.registry, fields, feed, &mut context)?;
        let sort = match &self.sort {
            Some(sort) => Some(sort.render(&self.registry, fields, feed, &mut context)?),
            None => None,
        };
        Ok(Key { partition, sort })
    }
}

impl KeyTemplate {
    fn render(
        &self,
        registry: &Handlebars<'static>,
        fields: &IndexMap<String, Value>,
        feed: &Map<String, Value>,
        context: &mut Option<Value>,
    ) -> Result<String, Poison> {
        let rendered = match &self.how {
            Render::Field(name) => match fields.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.as_str().to_owned(),
                Some(Value::Bool(b)) => b.to_string(),
                // Fields hold only strings, numbers and booleans; render anything else as
                // Handlebars would.
                Some(other) => handlebars::JsonRender::render(other),
                None => return Err(self.missing(name)),
            },
            Render::Handlebars => {
                let context = context.get_or_insert_with(|| template_context(fields, feed));
                registry
                    .render(self.role, context)
                    .map_err(|err| match err.reason() {
                        RenderErrorReason::MissingVariable(Some(name)) => self.missing(name),
                        _ => self.poison(format!("cannot be rendered: {err}")),
                    })?
            }
        };
        if rendered.is_empty() {
            return Err(self.poison("renders empty for this record".to_owned()));
        }
        if rendered.len() > self.max_bytes {
            return Err(self.poison(format!(
                "renders {} bytes; DynamoDB allows at most {}",
                rendered.len(),
                self.max_bytes
            )));
        }
        Ok(rendered)
    }

    fn missing(&self, name: &str) -> Poison {
        self.poison(format!(
            "needs `{name}`, which this record does not have (an optional field that is \
             missing or could not be converted)"
        ))
    }

    fn poison(&self, what: String) -> Poison {
        Poison {
            reason: format!("the {} key `{}` {what}", self.role, self.text),
        }
    }
}

/// What a Handlebars key template sees: the feed as `feed`, and every field by name (a field
/// named `feed` wins over the feed).
fn template_context(fields: &IndexMap<String, Value>, feed: &Map<String, Value>) -> Value {
    let mut context = Map::with_capacity(fields.len() + 1);
    context.insert("feed".to_owned(), Value::Object(feed.clone()));
    for (name, value) in fields {
        context.insert(name.clone(), value.clone());
    }
    Value::Object(context)
}

/// The name in a template that is exactly one plain `{{name}}` (not a helper call: `{{len}}`
/// calls the helper even when a field is named `len`).
fn single_reference(template: &Template) -> Option<&str> {
    let [element] = template.elements.as_slice() else {
        return None;
    };
    let (TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h)) = element else {
        return None;
    };
    let raw = match &h.name {
        Parameter::Name(name) => name,
        Parameter::Path(handlebars::Path::Relative((_, raw))) => raw,
        _ => return None,
    };
    let plain = raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (plain && h.params.is_empty() && h.hash.is_empty() && !HELPERS.contains(&raw.as_str()))
        .then_some(raw.as_str())
}

#[cfg(test)]
mod tests {
    use handlebars::template::Template;

    use super::single_reference;

    #[test]
    fn single_field_references_are_recognised() {
        let name =
            |text: &str| single_reference(&Template::compile(text).unwrap()).map(str::to_owned);
        assert_eq!(name("{{symbol}}").as_deref(), Some("symbol"));
        assert_eq!(name("{{ quoted_at }}").as_deref(), Some("quoted_at"));
        assert_eq!(name("{{{symbol}}}").as_deref(), Some("symbol"));
        for other in [
            "{{symbol}}#{{at}}",
            "x{{symbol}}",
            "{{feed.symbol}}",
            "{{this.symbol}}",
            "{{len}}",
            "{{len symbol}}",
            "{{@index}}",
            "plain",
        ] {
            assert_eq!(name(other), None, "{other}");
        }
    }
}
