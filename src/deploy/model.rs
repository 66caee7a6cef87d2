//! The CloudFormation template as Rust types: fields are written in the order declared, so the
//! output is the same every time (snapshots, diffs in review), in YAML or JSON alike.

use indexmap::IndexMap;
use serde::Serialize;

use super::properties::Properties;

/// A whole template.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// Always `2010-09-09`, the only version.
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    /// What the stack is.
    pub description: String,
    /// Values given at deploy time: the code's location and the pipeline's variables.
    pub parameters: IndexMap<String, Parameter>,
    /// Named conditions on the parameters (the alarm e-mail's topic exists only when given).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub conditions: IndexMap<String, Condition>,
    /// The resources, by logical id.
    pub resources: IndexMap<String, Resource>,
    /// What the stack reports once created.
    pub outputs: IndexMap<String, Output>,
}

/// A template parameter (always a `String`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    /// Always `String`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// Shown by the console and `aws cloudformation describe-stacks`.
    pub description: String,
    /// Hides the value in the console and API output (secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_echo: Option<bool>,
    /// The value when none is given (never for a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A string that is a literal or computed by CloudFormation.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Str {
    /// Written as is.
    Literal(String),
    /// An intrinsic function.
    Fn(Intrinsic),
}

/// The intrinsic functions the template uses, in their long form (valid in YAML and JSON).
#[derive(Clone, Debug, Serialize)]
pub enum Intrinsic {
    /// A parameter's value, or a resource's default return value (a queue's URL, a name).
    #[serde(rename = "Ref")]
    Ref(String),
    /// An attribute of a resource, such as `[Queue, Arn]`.
    #[serde(rename = "Fn::GetAtt")]
    GetAtt([String; 2]),
    /// A string with `${AWS::Region}`-style substitutions.
    #[serde(rename = "Fn::Sub")]
    Sub(String),
    /// `[condition, value if true, value if false]`.
    #[serde(rename = "Fn::If")]
    If(Box<(String, Str, Str)>),
}

/// A template condition: `{Fn::Not: [{Fn::Equals: [{Ref: parameter}, ""]}]}`, true when a
/// parameter is given (the only kind the template needs).
#[derive(Clone, Debug, Serialize)]
pub struct Condition {
    /// The negation.
    #[serde(rename = "Fn::Not")]
    pub not: [Equals; 1],
}

/// `{Fn::Equals: [a, b]}`.
#[derive(Clone, Debug, Serialize)]
pub struct Equals {
    /// The two values compared.
    #[serde(rename = "Fn::Equals")]
    pub equals: (Str, Str),
}

impl Condition {
    /// True when `parameter` is not empty.
    pub fn given(parameter: &str) -> Condition {
        Condition {
            not: [Equals {
                equals: (Str::reference(parameter), Str::Literal(String::new())),
            }],
        }
    }
}

impl Str {
    /// `{Ref: name}`.
    pub fn reference(name: &str) -> Str {
        Str::Fn(Intrinsic::Ref(name.to_owned()))
    }

    /// `{Fn::GetAtt: [resource, attribute]}`.
    pub fn attribute(resource: &str, attribute: &str) -> Str {
        Str::Fn(Intrinsic::GetAtt([
            resource.to_owned(),
            attribute.to_owned(),
        ]))
    }

    /// `{Fn::If: [condition, then, otherwise]}`.
    pub fn when(condition: &str, then: Str, otherwise: Str) -> Str {
        Str::Fn(Intrinsic::If(Box::new((
            condition.to_owned(),
            then,
            otherwise,
        ))))
    }

    /// `{Ref: AWS::NoValue}`: the property or list item is left out.
    pub fn no_value() -> Str {
        Str::reference("AWS::NoValue")
    }

    /// `{Fn::Sub: text}`.
    pub fn sub(text: impl Into<String>) -> Str {
        Str::Fn(Intrinsic::Sub(text.into()))
    }
}

impl From<&str> for Str {
    fn from(text: &str) -> Str {
        Str::Literal(text.to_owned())
    }
}

/// One resource.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// Such as `AWS::SQS::Queue`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// Kept when the stack is deleted or the resource replaced (the table's data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<&'static str>,
    /// Same as `deletion_policy`, on replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_replace_policy: Option<&'static str>,
    /// The condition the resource exists under, when it is optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Resources created first although nothing here refers to them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The resource's properties.
    pub properties: Properties,
}

impl Resource {
    /// A resource of `kind` with `properties` and no policy.
    pub fn new(kind: &'static str, properties: Properties) -> Resource {
        Resource {
            kind,
            deletion_policy: None,
            update_replace_policy: None,
            condition: None,
            depends_on: Vec::new(),
            properties,
        }
    }

    /// The same resource, existing only when `condition` holds.
    pub fn when(mut self, condition: &str) -> Resource {
        self.condition = Some(condition.to_owned());
        self
    }
}

/// One output.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    /// What it is.
    pub description: String,
    /// Its value.
    pub value: Str,
}
