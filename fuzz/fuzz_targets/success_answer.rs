#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gcp_token_agent::fuzz::success_answer(data));
