//! The README's demo runs end to end: both clouds converge with one order per change, well
//! within two minutes once the API server binaries are built.

use std::time::{Duration, Instant};

#[test]
fn demo_converges_and_explains_how_to_continue() {
    let start = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_natgw-dev"))
        .args(["demo", "--exit-when-done", "--change-seconds", "2"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("the demo runs");
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("all 4 gateways Ready"), "{stdout}");
    assert!(stdout.contains("orders placed: Tencent 2 and Huawei 2"), "{stdout}");
    // The monthly gateway declared pay-per-use: no order, and `-o wide` shows when and what then.
    assert!(stdout.contains("then pay-per-use"), "{stdout}");
    let wide = stdout.lines().find(|l| l.starts_with("egress-huawei-ppu ")).unwrap_or_default();
    assert!(wide.contains("PayPerUseAtExpiry") && wide.contains("Z "), "{stdout}");
    for shown in ["InProgress (order ", "export KUBECONFIG=", "get natgw -n demo -o wide", "EXPIRES", "RENEWAL"] {
        assert!(stdout.contains(shown), "the demo output lacks {shown:?}:\n{stdout}");
    }
    assert!(elapsed < Duration::from_secs(120), "the demo took {elapsed:?}");
    println!("demo took {:.1} s", elapsed.as_secs_f64());
}
