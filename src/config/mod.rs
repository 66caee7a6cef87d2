//! The pipeline file: its model (`model`), how it is read (`load`, `file`), the config-level
//! checks `stockrun validate` runs on it (`validate`), and how its JSONPath and template values
//! compile (`jsonpath`, `template`: the stages build through them).

pub mod env;
pub mod file;
pub mod jsonpath;
pub mod load;
pub mod located;
pub mod model;
pub mod schema;
pub mod template;
pub mod validate;
mod yaml_error;

pub use located::Located;
pub use model::Pipeline;
