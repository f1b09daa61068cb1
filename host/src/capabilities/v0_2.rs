//! `plinth:plugin@0.2.0`, frozen in `wit/0.2.0/`, forwarded to the newest
//! version (`forward.rs`): 0.1.0 plus `storage.increment`.

super::forward::forward_version!(path: "../wit/0.2.0", version: "0.2.0", storage: [increment]);
