//! kubectl-style YAML: every upstream `.json` (the committed copies, and the whole
//! kubernetes/api testdata/HEAD when ../shared has it) turns into the `.yaml` beside it, byte
//! for byte.

use std::path::{Path, PathBuf};

fn pairs(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(PathBuf, PathBuf)> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.clone(), p.with_extension("yaml")))
        .filter(|(_, y)| y.exists())
        .collect();
    v.sort();
    v
}

fn check(dir: &Path) -> (usize, Vec<String>) {
    let mut bad = Vec::new();
    let all = pairs(dir);
    for (json, yaml) in &all {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
        let got = kube::yaml::to_yaml(&v);
        let want = std::fs::read_to_string(yaml).unwrap();
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("got {a:?}, want {b:?}"))
                .unwrap_or_else(|| "lengths differ".into());
            bad.push(format!("{}: {line}", json.display()));
        }
    }
    (all.len(), bad)
}

#[test]
fn committed_objects_print_like_kubectl() {
    let (n, bad) = check(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"));
    assert_eq!(n, 4);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_upstream_type_prints_like_kubectl() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/k8s-api-testdata/testdata/HEAD");
    let (n, bad) = check(&dir);
    if n == 0 {
        eprintln!("skipped: {} is not here", dir.display());
        return;
    }
    eprintln!(
        "{} of {n} upstream types print byte for byte like kubectl",
        n - bad.len()
    );
    assert!(bad.is_empty(), "{bad:#?}");
}
