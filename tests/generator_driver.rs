//! The runner's view of the generators: drive a [`Driver`] by hand, as the runner's loop does
//! (ask at a time, dispatch, report invokes and completions, sleep until the wake-up), with no
//! simulator in between.

use std::time::Duration;

use faultline::generator::{
    any, delay, on_clients, on_nemesis, phases, repeat, sleep, time_limit, BoxGen, Context, Driver,
    GenOp, Next, OpTemplate, Thread,
};
use faultline::history::{Event, EventType, Process};
use faultline::workload::WorkloadSpec;
use serde_json::Value;

fn event(op: &GenOp, index: u64, time: u64, kind: EventType) -> Event {
    Event {
        index,
        time,
        process: op.process,
        kind,
        f: op.f.clone(),
        key: op.key.clone(),
        value: op.value.clone(),
        node: None,
        error: None,
    }
}

/// Asks until `Pending` or `Done`, collecting the ops handed out.
fn drain(driver: &mut Driver, now: u64) -> (Vec<GenOp>, Next) {
    let mut ops = Vec::new();
    for _ in 0..1000 {
        match driver.next(now) {
            Next::Op(op) => ops.push(op),
            other => return (ops, other),
        }
    }
    panic!("more than 1000 ops at one instant");
}

#[test]
fn a_runner_loop_sees_ops_for_free_threads_wakeups_and_done() {
    let ms = 1_000_000u64;
    let clients = on_clients(delay(
        Duration::from_millis(10),
        repeat(OpTemplate::new("write", Value::from(1))),
    ));
    let nemesis = on_nemesis(delay(
        Duration::from_millis(25),
        repeat(OpTemplate::new("kill", Value::Null)),
    ));
    let gen = phases(vec![
        Box::new(time_limit(
            Duration::from_millis(50),
            any(vec![Box::new(clients), Box::new(nemesis)]),
        )) as BoxGen,
        Box::new(sleep(Duration::from_millis(5))),
    ]);
    let mut driver = Driver::new(Box::new(gen), Context::new(2, 42));

    // t=0: one client op (the delay spaces ops) and one nemesis op.
    let (ops, next) = drain(&mut driver, 0);
    assert_eq!(next, Next::Pending);
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().any(|o| o.process == Process::Nemesis));
    let client = ops
        .iter()
        .find(|o| o.process != Process::Nemesis)
        .unwrap()
        .clone();
    let thread = driver.context().thread_of(client.process).unwrap();
    assert!(!driver.context().is_free(thread));
    assert_eq!(driver.wakeup(), Some(10 * ms));
    driver.invoked(&event(&client, 0, 0, EventType::Invoke));

    // The client op crashes at 3 ms: its thread comes back as process + 2.
    driver.completed(&event(&client, 1, 3 * ms, EventType::Info));
    let Thread::Client(i) = thread else {
        panic!("client op on the nemesis thread")
    };
    assert_eq!(
        driver.context().process_of(thread),
        Process::Client(i as u64 + 2)
    );

    // Not yet time at 5 ms; at 10 ms the next client op goes.
    assert_eq!(drain(&mut driver, 5 * ms).1, Next::Pending);
    let (ops, _) = drain(&mut driver, 10 * ms);
    assert_eq!(ops.len(), 1);
    assert_ne!(ops[0].process, Process::Nemesis);

    // The nemesis op never completed, so no second nemesis op at 25 ms.
    let (ops, _) = drain(&mut driver, 25 * ms);
    assert!(ops.iter().all(|o| o.process != Process::Nemesis));

    // Past the time limit nothing new is handed out; the phase waits for outstanding ops
    // (the sleep phase starts only once every thread is free).
    let (ops, next) = drain(&mut driver, 60 * ms);
    assert!(ops.is_empty());
    assert_eq!(next, Next::Pending);
}

#[test]
fn crashed_processes_never_run_again_in_a_runner_loop() {
    let spec = WorkloadSpec::load("cas-register").unwrap();
    let gens = spec.generators(9);
    let mut driver = Driver::new(gens.client, Context::new(4, 9));
    let mut index = 0;
    let mut crashed = std::collections::BTreeSet::new();
    for round in 0..250u64 {
        let now = round * 1000;
        let (ops, next) = drain(&mut driver, now);
        assert_eq!(next, Next::Pending, "round {round}");
        assert_eq!(ops.len(), 4, "round {round}: every thread was free");
        for op in ops {
            let Process::Client(p) = op.process else {
                panic!("nemesis op from a workload")
            };
            assert!(
                !crashed.contains(&p),
                "round {round}: crashed process {p} ran again"
            );
            driver.invoked(&event(&op, index, now, EventType::Invoke));
            // Every fifth op crashes.
            let kind = if index % 10 == 0 {
                EventType::Info
            } else {
                EventType::Ok
            };
            if kind == EventType::Info {
                crashed.insert(p);
            }
            driver.completed(&event(&op, index + 1, now + 500, kind));
            index += 2;
        }
    }
    assert_eq!(crashed.len(), 200);
    // 4 threads in 2 groups, 500 ops per group at 300 per key, group 0's first key staggered
    // to 150: group 0 took keys at its ops 0, 150 and 450, group 1 at 0 and 300.
    assert_eq!(spec.ops_per_key, 300);
    assert_eq!(gens.keys.get(), 5);
}
