//! Any bytes as the body of `POST /alerts`: decoding and validation never panic, and whatever they
//! accept goes through the rest of the pipeline intact (`tocsin_fuzz::check_accepted`). Seeded
//! with Alertmanager's captured webhooks (testdata/alertmanager/raw).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Some(payload) = tocsin_fuzz::accept(body) {
        tocsin_fuzz::check_accepted(&payload);
    }
});
