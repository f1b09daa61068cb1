//! `plinth:plugin@0.1.0`, frozen in `wit/0.1.0/`, forwarded to the newest
//! version (`forward.rs`).

super::forward::forward_version!(path: "../wit/0.1.0", version: "0.1.0", storage: []);
