//! Many environments at once, and nothing left behind by environments that use every
//! kind of kernel object (the runner also checks for leftovers after every case).

use serde_json::json;
use stockade_core::portability::Feature;

use crate::case::{check, probe, Action, Case, Env, Matcher, Script, Step};
use Matcher::{Contains, Eq};

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "scale.twenty_at_once",
            "20 environments run at once, list shows them running, each has its own host name, all delete cleanly",
            Env::host(&["--sleep", "300"]),
            Script::Many(20),
        )
        .features(&[Feature::ProcessIsolation, Feature::Hostname])
        .checks(vec![
            check("/started", Eq(json!(20))),
            check("/running", Eq(json!(20))),
            check("/own_hostname", Eq(json!(20))),
            check("/deleted", Eq(json!(20))),
        ]),
        Case::new(
            "cleanup.everything",
            "an environment with mounts, limits and a private link leaves nothing after stop and delete",
            Env::host(&["--sleep", "300", "--trap", "TERM:0"]).extra(
                "[[mount]]\nkind = \"tmpfs\"\ntarget = \"/scratch\"\n\n\
                 [[mount]]\nkind = \"bind\"\nsource = \"{share}\"\ntarget = \"/data\"\n\n\
                 [limits]\nmemory = \"128M\"\nprocesses = 64\ncpus = 1\nopen_files = 256\n\n\
                 [network]\nmode = \"private\"\naddress = \"10.213.3.2/30\"\ngateway = \"10.213.3.1\"\nnat = false",
            ),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("exec", Action::Exec(vec!["--path".into(), "/scratch".into()])),
                Step::new("stop", Action::Stop(5.0)),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::TmpfsMount, Feature::BindMount, Feature::NetworkPrivate])
        .checks(vec![
            probe("exec", "/net/addresses", Contains(json!("10.213.3.2/30"))),
            probe("exec", "/paths/~1scratch/fstype", Eq(json!("tmpfs"))),
        ]),
        Case::new(
            "cleanup.delete_force_running",
            "delete --force on a running environment leaves nothing",
            Env::host(&["--sleep", "300"]).extra("[limits]\nprocesses = 64"),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("running", Action::WaitStatus("running")),
                Step::new("delete", Action::Delete { force: true }),
                Step::new("gone", Action::State).fails(),
            ]),
        )
        .features(&[Feature::ProcessLimit]),
        Case::new(
            "cleanup.root_path_foreground",
            "a foreground run on a prepared root with a tmpfs leaves nothing",
            Env::path(&[]).extra("[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\""),
            Script::Steps(vec![Step::new("run", Action::Run(vec![]))]),
        )
        .features(&[Feature::RootPath, Feature::TmpfsMount]),
    ]
}
