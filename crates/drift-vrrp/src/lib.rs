//! drift-vrrp
