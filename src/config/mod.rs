//! The pipeline file: its model (`model`), how it is read (`load`, `file`), the config-level
//! checks `stockrun validate` runs on it (`validate`), and how its JSONPath and template values
//! compile (`jsonpath`, `template`: the stages build through them).

pub mod env;
pub mod file;
pub mod jsonpath;
pub mod load;
pub mod model;
pub mod schema;
pub mod template;
pub mod validate;
mod yaml_error;

/// Values with their place in the file: a leaf (`crate::located`), so `diag` can use it
/// without depending on `config`.
pub use crate::located::{self, Located};
pub use model::Pipeline;
