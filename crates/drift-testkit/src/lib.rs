//! drift-testkit
