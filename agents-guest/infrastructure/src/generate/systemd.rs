//! The systemd unit: `tandem serve` on loopback (a proxy in front serves other hosts) as a dynamic user with its state directory, the file system
//! read-only around it, no new privileges, no capabilities, and memory and CPU limits. Left out on
//! purpose: `MemoryDenyWriteExecute=` (Cranelift writes machine code and then executes it).

use crate::quantity;
use crate::service::Service;

pub fn render(service: &Service) -> String {
    let r = &service.resources;
    let memory_max = quantity::parse(&r.memory_limit).unwrap_or(0.0) / (1024.0 * 1024.0);
    let memory_low = quantity::parse(&r.memory).unwrap_or(0.0) / (1024.0 * 1024.0);
    let cpu_quota = quantity::parse(&r.cpu_limit).unwrap_or(1.0) * 100.0;
    let state = service.data_dir.trim_start_matches("/var/lib/");
    let data_dir_line = if state == service.data_dir {
        format!("ReadWritePaths={}\n", service.data_dir)
    } else {
        format!("StateDirectory={state}\nStateDirectoryMode=0750\n")
    };
    let env: String = service
        .environment_listening_on("127.0.0.1")
        .iter()
        .map(|(k, v)| format!("Environment=\"{k}={v}\"\n"))
        .collect();
    format!(
        "# {name}: install as /etc/systemd/system/{name}.service, then `systemctl enable --now {name}`.\n\
         # The admin token: `systemd-creds encrypt` it and add `LoadCredentialEncrypted=`, or an\n\
         # EnvironmentFile= readable by root only.\n\
         [Unit]\n\
         Description=Tandem agent host ({name})\n\
         After=network-online.target\n\
         Wants=network-online.target\n\
         \n\
         [Service]\n\
         Type=exec\n\
         ExecStart=/usr/local/bin/tandem serve\n\
         {env}\
         DynamicUser=yes\n\
         {data_dir_line}\
         ReadOnlyPaths={agents}\n\
         Restart=on-failure\n\
         RestartSec=2s\n\
         TimeoutStopSec=30s\n\
         MemoryMax={memory_max:.0}M\n\
         MemoryLow={memory_low:.0}M\n\
         CPUQuota={cpu_quota:.0}%\n\
         LimitNOFILE=65536\n\
         NoNewPrivileges=yes\n\
         CapabilityBoundingSet=\n\
         AmbientCapabilities=\n\
         ProtectSystem=strict\n\
         ProtectHome=yes\n\
         PrivateTmp=yes\n\
         PrivateDevices=yes\n\
         ProtectKernelTunables=yes\n\
         ProtectKernelModules=yes\n\
         ProtectKernelLogs=yes\n\
         ProtectControlGroups=yes\n\
         ProtectClock=yes\n\
         ProtectHostname=yes\n\
         RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n\
         RestrictNamespaces=yes\n\
         RestrictRealtime=yes\n\
         RestrictSUIDSGID=yes\n\
         LockPersonality=yes\n\
         SystemCallArchitectures=native\n\
         SystemCallFilter=@system-service\n\
         UMask=0077\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        name = service.name,
        agents = service.agents_dir,
    )
}
