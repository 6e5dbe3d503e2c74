//! Node lifecycle for local clusters: raftkv processes on 127.0.0.1, wired through faultline's
//! link proxies so partitions need no root.
