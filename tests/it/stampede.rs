//! A cold-start stampede on the metadata API: 500 concurrent token requests, one upstream
//! exchange. In its own test binary so no other test competes for the two cores meanwhile
//! (cargo runs test binaries one after another).

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::{
    agent::Sandbox,
    emulator::{Emulator, Fault},
    running::{RunningAgent, get},
};

const EMAIL: &str = "meta@emulator-project.iam.gserviceaccount.com";
const SA: &str = "/computeMetadata/v1/instance/service-accounts";

#[test]
fn a_cold_start_stampede_of_500_requests_causes_one_exchange() {
    let emulator = Emulator::start();
    emulator.push_fault(Fault::Slow(Duration::from_secs(2)));
    let sandbox = Sandbox::new();
    let key = sandbox.path("key.json");
    emulator.add_service_account(EMAIL).write_to(&key).expect("write key");
    let agent = RunningAgent::start(&sandbox, &["--credentials", key.to_str().expect("utf8")]);
    let addr = agent.metadata.expect("listener");
    let not_yet = get(agent.admin.expect("admin"), "/readyz", &[]);
    assert_eq!(not_yet.status, 503, "not ready before the first token: {}", not_yet.body);
    let path = format!("{SA}/default/token");
    let threads: Vec<_> = (0..500)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || get(addr, &path, &[("Metadata-Flavor", "Google")]))
        })
        .collect();
    let tokens: std::collections::BTreeSet<String> = threads
        .into_iter()
        .map(|t| {
            let answer = t.join().expect("thread");
            assert_eq!(answer.status, 200, "{}", answer.body);
            serde_json::from_str::<Value>(&answer.body).expect("json")["access_token"]
                .as_str()
                .expect("t")
                .to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 1);
    assert_eq!(emulator.calls("token"), 1, "500 requests, one upstream exchange");
}
