//! Unit tests: every key, the defaults, each validation error.
use super::*;

#[test]
fn scratch() {
    let cases: &[(&str, &str)] = &[
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\nstopsignal = \"TERMM\"\n",
        ),
        ("x.toml", "[programs.web]\ncmd = \"sleep 1\"\nfoo = 1\n"),
        ("x.toml", "[programs.web]\nnumprocs = 2\n"),
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\nnumprocs = -1\n",
        ),
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\nnumprocs = \"four\"\n",
        ),
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\numask = 0o27\n",
        ),
        ("x.toml", "[programs.web]\ncmd = \"sleep 1\"\numask = 18\n"),
        ("x.toml", "[programs.web]\ncmd = \"sleep 1\"\numask = 022\n"),
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\nenv = { A = 1, \"B=C\" = 2 }\n",
        ),
        ("x.toml", "[programs.\"a b\"]\ncmd = \"sleep 1\"\n"),
        ("x.toml", "[programs.web]\ncmd = \"sleep 'x\"\n"),
        ("x.toml", "[taskmaster]\nsockt = 1\n"),
        ("x.toml", "foo = 1\n"),
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\nstoptime = = 3\n",
        ),
        (
            "x.toml",
            "[programs.web]\ncmd = \"sleep 1\"\n[programs.web]\ncmd = \"x\"\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    stopsignal: TERMM\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    foo: 1\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    numprocs: four\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    numprocs: [\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n  bad:\n    numprocs: 2\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    cmd: sleep 2\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    env:\n      A: [1]\n",
        ),
        (
            "x.yaml",
            "programs:\n  web:\n    cmd: sleep 1\n    umask: 0o27\n",
        ),
        ("x.yaml", "programs:\n  \"a:b\":\n    cmd: sleep 1\n"),
        ("x.yaml", "# nothing\n"),
        ("x.yaml", "programs:\n"),
        ("x.yaml", "---\na: 1\n---\nb: 2\n"),
    ];
    for (name, text) in cases {
        match parse(Path::new(name), text) {
            Ok(c) => println!(
                "OK {name} {:?}",
                c.programs
                    .values()
                    .map(|p| (p.umask, &p.env))
                    .collect::<Vec<_>>()
            ),
            Err(e) => println!("ERR {e}\n    {e:?}"),
        }
    }
    let c = load(Path::new("configs/brief-example.yaml"));
    println!("{c:#?}");
}
