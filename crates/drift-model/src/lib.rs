//! drift-model
