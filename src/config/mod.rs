//! The pipeline file: its model (`model`), how it is read (`load`), and every check `stockrun
//! validate` runs on it (`validate`).

pub mod env;
pub mod load;
pub mod located;
pub mod model;
pub mod schema;
pub mod validate;
mod yaml_error;

pub use located::Located;
pub use model::Pipeline;
