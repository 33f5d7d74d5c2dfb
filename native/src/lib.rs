//! Mooring's native parts (the Python module `mooring_native`), each optional: Python code
//! does the same work, more slowly, where the module is not installed.
//!
//! - `read` and `locate` (yamllines.rs): the YAML line reader of `mooring.api.yamlfast`.
//! - `Expression` (celeval.rs): the guardrail rules' quick checks, evaluated over the
//!   Python objects as read.

mod celeval;
mod yamllines;

use pyo3::prelude::*;

#[pymodule]
fn mooring_native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(yamllines::read, module)?)?;
    module.add_function(wrap_pyfunction!(yamllines::locate, module)?)?;
    module.add_class::<celeval::Expression>()?;
    Ok(())
}
