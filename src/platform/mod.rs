//! Composer and MWAA specifics beyond copying files. MWAA loads plugins only from one `plugins.zip` object,
//! so the plugins folder is packed into a zip whose bytes depend on nothing but the files' names and contents.
mod plugins_zip;

pub use plugins_zip::{PluginsZipError, build_plugins_zip};
