//! Handlebars templates (notify subject/text/html, key values, the source URL and headers):
//! that every helper exists and every variable names something the template will have at
//! render time. Templates are rendered in strict mode, so an unknown variable would fail every
//! batch at run time. Their syntax is the stages' to check (`crate::config::template`).

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};

use super::Ctx;
use crate::config::Located;
use crate::config::template::HELPERS;
use crate::diag::{Diagnostic, did_you_mean};

/// The names a template can use, at its top level and inside `{{#each <list>}}`.
pub(crate) struct Scope {
    /// Names at the top level.
    pub top: Vec<String>,
    /// The list whose items `{{#each}}` iterates, and the names each item has.
    pub each: Option<(&'static str, Vec<String>)>,
    /// Introduces the names in an error message, such as "every feed has".
    pub describe_top: &'static str,
    /// Where `feed` is a name: the keys `feed.KEY` may use (those every feed has). `None` when
    /// the feeds are unknown (their section did not parse) or `feed` is not a name here.
    pub feed_keys: Option<Vec<String>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    Top,
    Item,
    Unknown,
}

/// Checks the helpers and variables a template uses. A template that does not compile is
/// skipped: the stage that compiles it reports why.
pub(super) fn check(ctx: &mut Ctx<'_>, value: &Located<String>, path: &str, scope: &Scope) {
    for (line, column, message, help) in problems(value, scope) {
        let position = ctx.within(value, line.saturating_sub(1), column.saturating_sub(1));
        let diagnostic = Diagnostic::error(position, message).at(path);
        ctx.push(match help {
            Some(help) => diagnostic.help(help),
            None => diagnostic,
        });
    }
}

/// [`check`] for a stage constructor, which has the value but not the file: the diagnostics
/// point inside the value ([`Diagnostic::within`]), placed in the file when they are finished.
pub(crate) fn diagnostics(value: &Located<String>, path: &str, scope: &Scope) -> Vec<Diagnostic> {
    problems(value, scope)
        .into_iter()
        .map(|(line, column, message, help)| {
            let diagnostic = Diagnostic::error(value.position, message)
                .within(value, line.saturating_sub(1), column.saturating_sub(1))
                .at(path);
            match help {
                Some(help) => diagnostic.help(help),
                None => diagnostic,
            }
        })
        .collect()
}

/// The unknown helpers and names of a template (1-based line and column in the value).
fn problems(value: &Located<String>, scope: &Scope) -> Vec<Problem> {
    let Ok(template) = Template::compile(value) else {
        return Vec::new();
    };
    let mut walker = Walker {
        scope,
        problems: Vec::new(),
    };
    walker.template(&template, &mut vec![Frame::Top]);
    walker.problems
}

/// The variables a template uses at its top level (for key templates: which fields they need).
pub(crate) fn top_level_names(template: &str) -> Vec<String> {
    let Ok(template) = Template::compile(template) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    collect_names(&template, &mut names);
    names
}

fn collect_names(template: &Template, names: &mut Vec<String>) {
    for element in &template.elements {
        if let TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) = element {
            if let Parameter::Path(handlebars::Path::Relative((_, raw))) = &h.name {
                names.push(first_segment(raw).to_owned());
            }
            for param in &h.params {
                if let Parameter::Path(handlebars::Path::Relative((_, raw))) = param {
                    names.push(first_segment(raw).to_owned());
                }
            }
        }
    }
}

type Problem = (usize, usize, String, Option<String>);

struct Walker<'s> {
    scope: &'s Scope,
    problems: Vec<Problem>,
}

impl Walker<'_> {
    fn template(&mut self, template: &Template, stack: &mut Vec<Frame>) {
        for (index, element) in template.elements.iter().enumerate() {
            let at = template.mapping.get(index).map_or((1, 1), |m| (m.0, m.1));
            match element {
                TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                    self.helper(h, at, stack, false);
                }
                TemplateElement::HelperBlock(h) => self.helper(h, at, stack, true),
                TemplateElement::DecoratorExpression(_)
                | TemplateElement::DecoratorBlock(_)
                | TemplateElement::PartialExpression(_)
                | TemplateElement::PartialBlock(_) => self.problems.push((
                    at.0,
                    at.1,
                    "partials and decorators are not supported in pipeline templates".into(),
                    None,
                )),
                _ => {}
            }
        }
    }

    fn helper(
        &mut self,
        h: &HelperTemplate,
        at: (usize, usize),
        stack: &mut Vec<Frame>,
        block: bool,
    ) {
        let name = match &h.name {
            Parameter::Name(name) => name.clone(),
            Parameter::Path(handlebars::Path::Relative((_, raw))) => raw.clone(),
            _ => String::new(),
        };
        let is_call = block || !h.params.is_empty() || !h.hash.is_empty();
        if HELPERS.contains(&name.as_str()) {
            // A helper call, such as `{{len records}}`.
        } else if is_call {
            self.problems.push((
                at.0,
                at.1,
                format!("unknown helper `{name}`"),
                Some(match did_you_mean(&name, &HELPERS) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the helpers are {}", HELPERS.join(", ")),
                }),
            ));
        } else {
            self.variable(&h.name, at, stack);
        }
        for param in h.params.iter().chain(h.hash.values()) {
            self.parameter(param, at, stack);
        }
        if !block {
            return;
        }
        // Only `each` and `with` change the context (and so what `../` means); `if`, `unless`
        // and other blocks render their body in the current one.
        let inner = match name.as_str() {
            _ if h.block_param.is_some() => Some(Frame::Unknown), // `as |item|`: names we do not track
            "each" => Some(self.each_frame(h.params.first(), stack)),
            "with" => Some(Frame::Unknown),
            _ => None,
        };
        if let Some(body) = &h.template {
            if let Some(inner) = inner {
                stack.push(inner);
                self.template(body, stack);
                stack.pop();
            } else {
                self.template(body, stack);
            }
        }
        if let Some(inverse) = &h.inverse {
            self.template(inverse, stack);
        }
    }

    /// The frame inside `{{#each X}}`: the item frame when X is the list this scope describes.
    fn each_frame(&self, list: Option<&Parameter>, stack: &[Frame]) -> Frame {
        let (Some((each, _)), Some(Parameter::Path(handlebars::Path::Relative((_, raw))))) =
            (&self.scope.each, list)
        else {
            return Frame::Unknown;
        };
        let (frame, rest) = resolve(raw, stack);
        if frame == Frame::Top && rest == *each {
            Frame::Item
        } else {
            Frame::Unknown
        }
    }

    fn parameter(&mut self, param: &Parameter, at: (usize, usize), stack: &mut Vec<Frame>) {
        match param {
            Parameter::Path(_) => self.variable(param, at, stack),
            Parameter::Subexpression(sub) => {
                if let TemplateElement::Expression(h) | TemplateElement::HelperBlock(h) =
                    sub.element.as_ref()
                {
                    self.helper(h, at, stack, false);
                }
            }
            _ => {}
        }
    }

    fn variable(&mut self, param: &Parameter, at: (usize, usize), stack: &[Frame]) {
        let Parameter::Path(handlebars::Path::Relative((_, raw))) = param else {
            return; // `@index` and other local variables
        };
        let (frame, rest) = resolve(raw, stack);
        let name = first_segment(rest);
        if name.is_empty() || name == "this" {
            return;
        }
        let (known, describe) = match frame {
            Frame::Unknown => return,
            Frame::Top => (&self.scope.top, self.scope.describe_top),
            Frame::Item => match &self.scope.each {
                Some((_, names)) => (names, "each record has"),
                None => return,
            },
        };
        if known.iter().any(|k| k == name) {
            if name == "feed" {
                self.feed_member(rest, at);
            }
            return;
        }
        let candidates: Vec<&str> = known.iter().map(String::as_str).collect();
        let mut help = match did_you_mean(name, &candidates) {
            Some(best) => format!("did you mean `{best}`? "),
            None => String::new(),
        };
        help.push_str(&format!("{describe} {}", quoted_list(&candidates)));
        if frame == Frame::Top
            && let Some((each, names)) = &self.scope.each
            && names.iter().any(|n| n == name)
        {
            help = format!("`{name}` belongs to each record: use it inside `{{{{#each {each}}}}}`");
        }
        self.problems.push((
            at.0,
            at.1,
            format!("`{name}` is not defined here"),
            Some(help),
        ));
    }
}

impl Walker<'_> {
    /// `feed.KEY`: strict rendering fails on a key some feed lacks, so it must be one every feed
    /// has.
    fn feed_member(&mut self, path: &str, at: (usize, usize)) {
        let Some(keys) = &self.scope.feed_keys else {
            return;
        };
        let member = first_segment(path["feed".len()..].trim_start_matches(['.', '/']));
        if member.is_empty() || keys.iter().any(|k| k == member) {
            return;
        }
        let candidates: Vec<&str> = keys.iter().map(String::as_str).collect();
        let help = if keys.is_empty() {
            "the pipeline has no `feeds` with keys (each feed is a map such as `{ symbol: MSFT }`)"
                .to_owned()
        } else {
            let mut help = match did_you_mean(member, &candidates) {
                Some(best) => format!("did you mean `feed.{best}`? "),
                None => String::new(),
            };
            help.push_str(&format!("every feed has {}", quoted_list(&candidates)));
            help
        };
        self.problems.push((
            at.0,
            at.1,
            format!("`feed.{member}` is not defined here"),
            Some(help),
        ));
    }
}

/// Strips `this.`, `./`, `../` and `@root.` from a path and says which frame it starts in.
fn resolve<'p>(raw: &'p str, stack: &[Frame]) -> (Frame, &'p str) {
    if let Some(rest) = raw.strip_prefix("@root") {
        return (Frame::Top, rest.trim_start_matches(['.', '/']));
    }
    let mut rest = raw;
    for prefix in ["this.", "this/", "./"] {
        if let Some(r) = rest.strip_prefix(prefix) {
            rest = r;
        }
    }
    let mut up = 0;
    while let Some(r) = rest.strip_prefix("../") {
        rest = r;
        up += 1;
    }
    let frame = stack
        .len()
        .checked_sub(1 + up)
        .map_or(Frame::Top, |i| stack[i]);
    (frame, rest)
}

fn first_segment(path: &str) -> &str {
    path.split(['.', '/', '[']).next().unwrap_or("")
}

fn quoted_list(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
