//! Test guest: imports `acme:db/query`, which no Plinth host provides, so
//! loading it must fail with an error naming that import.

#![allow(missing_docs, unsafe_code, reason = "generated bindings")]

wit_bindgen::generate!({
    inline: "
        package acme:app;
        interface query { run: func(sql: string) -> string; }
        interface api { go: func() -> string; }
        world foreign { import query; export api; }
    ",
});

struct Foreign;

impl exports::acme::app::api::Guest for Foreign {
    fn go() -> String {
        acme::app::query::run("select 1")
    }
}

export!(Foreign);
