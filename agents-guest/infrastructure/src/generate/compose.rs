//! The compose file: one service from the image (or built from the Dockerfile), read-only root,
//! no capabilities, a user without privileges, limits and reservations, a health check, the data
//! in a named volume, the port on loopback only.

use yaml_rust2::Yaml;

use super::health_command;
use crate::quantity;
use crate::service::Service;
use crate::yaml::{emit, map, s, seq};

/// Bytes as compose writes them (`512m`: binary mebibytes, as Docker reads `m`).
fn compose_bytes(quantity_text: &str) -> String {
    let bytes = quantity::parse(quantity_text).unwrap_or(0.0);
    let mib = bytes / (1024.0 * 1024.0);
    if mib.fract() == 0.0 {
        format!("{mib}m")
    } else {
        format!("{}k", (bytes / 1024.0).ceil())
    }
}

/// Cores as compose writes them (`0.5`).
fn compose_cpus(quantity_text: &str) -> String {
    let cores = quantity::parse(quantity_text).unwrap_or(0.0);
    format!("{cores}")
}

pub fn render(service: &Service) -> String {
    let r = &service.resources;
    let environment = {
        let mut hash = yaml_rust2::yaml::Hash::new();
        for (k, v) in service.environment() {
            hash.insert(s(k), s(v));
        }
        Yaml::Hash(hash)
    };
    let volume = format!("{}-data", service.name);
    let server = map([
        ("image", s(service.image_ref())),
        ("build", s(".")),
        ("init", Yaml::Boolean(true)),
        ("user", s("10001:10001")),
        ("read_only", Yaml::Boolean(true)),
        ("cap_drop", seq([s("ALL")])),
        ("security_opt", seq([s("no-new-privileges:true")])),
        ("environment", environment),
        (
            "ports",
            seq([s(format!("127.0.0.1:{0}:{0}", service.port))]),
        ),
        (
            "volumes",
            seq([s(format!("{volume}:{}", service.data_dir))]),
        ),
        (
            "healthcheck",
            map([
                (
                    "test",
                    seq([
                        s("CMD"),
                        s("bash"),
                        s("-c"),
                        s(health_command(service.port)),
                    ]),
                ),
                ("interval", s("10s")),
                ("timeout", s("3s")),
                ("retries", Yaml::Integer(3)),
            ]),
        ),
        (
            "deploy",
            map([(
                "resources",
                map([
                    (
                        "limits",
                        map([
                            ("cpus", s(compose_cpus(&r.cpu_limit))),
                            ("memory", s(compose_bytes(&r.memory_limit))),
                        ]),
                    ),
                    (
                        "reservations",
                        map([
                            ("cpus", s(compose_cpus(&r.cpu))),
                            ("memory", s(compose_bytes(&r.memory))),
                        ]),
                    ),
                ]),
            )]),
        ),
        ("restart", s("unless-stopped")),
    ]);
    let mut services = yaml_rust2::yaml::Hash::new();
    services.insert(s(service.name.clone()), server);
    let mut volumes = yaml_rust2::yaml::Hash::new();
    volumes.insert(s(volume), map([]));
    let document = map([
        ("services", Yaml::Hash(services)),
        ("volumes", Yaml::Hash(volumes)),
    ]);
    format!(
        "# {name}: `docker compose up -d`. One replica: the port is published on loopback only; put a\n\
         # proxy in front to serve other hosts. The admin token, if any, goes in a compose secret.\n{}",
        emit(&[document]),
        name = service.name
    )
}
