//! Kubernetes objects: a ConfigMap with the server's settings, a Deployment (non-root, read-only
//! root file system, no privilege escalation, all capabilities dropped, the runtime's seccomp
//! profile, requests and limits, readiness on `/readyz` and liveness on `/healthz`, the admin
//! token from an optional Secret) and a Service in front of it.

use yaml_rust2::Yaml;

use crate::service::Service;
use crate::yaml::{emit, int, map, s, seq};

fn labels(service: &Service) -> Yaml {
    map([
        ("app.kubernetes.io/name", s(service.name.clone())),
        ("app.kubernetes.io/component", s("agent-host")),
    ])
}

fn probe(path: &str, initial: i64, period: i64, failures: i64) -> Yaml {
    map([
        ("httpGet", map([("path", s(path)), ("port", s("http"))])),
        ("initialDelaySeconds", int(initial)),
        ("periodSeconds", int(period)),
        ("timeoutSeconds", int(2)),
        ("failureThreshold", int(failures)),
    ])
}

pub fn render(service: &Service) -> String {
    let name = service.name.clone();
    let metadata = || {
        map([
            ("name", s(name.clone())),
            ("namespace", s(service.namespace.clone())),
            ("labels", labels(service)),
        ])
    };
    let config_map = {
        let mut data = yaml_rust2::yaml::Hash::new();
        for (k, v) in service.environment() {
            data.insert(s(k), s(v));
        }
        map([
            ("apiVersion", s("v1")),
            ("kind", s("ConfigMap")),
            ("metadata", metadata()),
            ("data", Yaml::Hash(data)),
        ])
    };
    let r = &service.resources;
    let container = map([
        ("name", s(name.clone())),
        ("image", s(service.image_ref())),
        ("imagePullPolicy", s("IfNotPresent")),
        (
            "args",
            seq([
                s("serve"),
                s("--allow-host"),
                s(name.clone()),
                s("--allow-host"),
                s(format!("{name}.{}.svc", service.namespace)),
                s("--allow-host"),
                s(format!("{name}.{}.svc.cluster.local", service.namespace)),
            ]),
        ),
        (
            "ports",
            seq([map([
                ("name", s("http")),
                ("containerPort", int(service.port.into())),
                ("protocol", s("TCP")),
            ])]),
        ),
        (
            "envFrom",
            seq([map([("configMapRef", map([("name", s(name.clone()))]))])]),
        ),
        (
            "env",
            seq([map([
                ("name", s("TANDEM_ADMIN_TOKEN")),
                (
                    "valueFrom",
                    map([(
                        "secretKeyRef",
                        map([
                            ("name", s(format!("{name}-admin"))),
                            ("key", s("token")),
                            ("optional", Yaml::Boolean(true)),
                        ]),
                    )]),
                ),
            ])]),
        ),
        (
            "resources",
            map([
                (
                    "requests",
                    map([("cpu", s(r.cpu.clone())), ("memory", s(r.memory.clone()))]),
                ),
                (
                    "limits",
                    map([
                        ("cpu", s(r.cpu_limit.clone())),
                        ("memory", s(r.memory_limit.clone())),
                    ]),
                ),
            ]),
        ),
        ("readinessProbe", probe("/readyz", 2, 5, 3)),
        ("livenessProbe", probe("/healthz", 10, 10, 3)),
        (
            "securityContext",
            map([
                ("runAsNonRoot", Yaml::Boolean(true)),
                ("runAsUser", int(10001)),
                ("runAsGroup", int(10001)),
                ("allowPrivilegeEscalation", Yaml::Boolean(false)),
                ("readOnlyRootFilesystem", Yaml::Boolean(true)),
                ("capabilities", map([("drop", seq([s("ALL")]))])),
            ]),
        ),
        (
            "volumeMounts",
            seq([map([
                ("name", s("data")),
                ("mountPath", s(service.data_dir.clone())),
            ])]),
        ),
    ]);
    let deployment = map([
        ("apiVersion", s("apps/v1")),
        ("kind", s("Deployment")),
        ("metadata", metadata()),
        (
            "spec",
            map([
                ("replicas", int(service.replicas.into())),
                ("selector", map([("matchLabels", labels(service))])),
                (
                    "template",
                    map([
                        ("metadata", map([("labels", labels(service))])),
                        (
                            "spec",
                            map([
                                ("automountServiceAccountToken", Yaml::Boolean(false)),
                                (
                                    "securityContext",
                                    map([
                                        ("runAsNonRoot", Yaml::Boolean(true)),
                                        ("fsGroup", int(10001)),
                                        ("seccompProfile", map([("type", s("RuntimeDefault"))])),
                                    ]),
                                ),
                                ("terminationGracePeriodSeconds", int(20)),
                                ("containers", seq([container])),
                                (
                                    "volumes",
                                    seq([map([
                                        ("name", s("data")),
                                        ("emptyDir", map([("sizeLimit", s("1Gi"))])),
                                    ])]),
                                ),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    let svc = map([
        ("apiVersion", s("v1")),
        ("kind", s("Service")),
        ("metadata", metadata()),
        (
            "spec",
            map([
                ("type", s("ClusterIP")),
                ("selector", labels(service)),
                (
                    "ports",
                    seq([map([
                        ("name", s("http")),
                        ("port", int(service.port.into())),
                        ("targetPort", s("http")),
                        ("protocol", s("TCP")),
                    ])]),
                ),
            ]),
        ),
    ]);
    format!(
        "# {name}: `kubectl apply -f` this file. Each replica keeps its own state (an emptyDir): use one\n\
         # replica, or a PersistentVolumeClaim per pod (a StatefulSet), when agents keep state.\n\
         # The admin token: `kubectl create secret generic {name}-admin --from-file=token=FILE`.\n{}",
        emit(&[config_map, deployment, svc])
    )
}
