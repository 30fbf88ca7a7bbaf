//! drift-config
