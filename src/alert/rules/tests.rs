//! Rules built from a pipeline: the time field, the checks of names, timing and templates, and
//! rendering.
