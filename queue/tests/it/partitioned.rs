use ember_core::{HashPartitioner, Partitioner};
use ember_queue::{Error, Message, PartitionedQueue, Queue};

#[test]
fn keys_land_where_the_kafka_partitioner_says() {
    let q: PartitionedQueue<u32> = PartitionedQueue::builder().partitions(6).build().unwrap();
    let p = HashPartitioner::kafka();
    for k in 0..50u32 {
        let key = format!("key-{k}");
        q.send(&key, k).unwrap();
        assert_eq!(
            q.partition_for(&key),
            p.partition(key.as_bytes(), 6) as usize
        );
    }
    let per: Vec<u64> = q
        .partition_stats()
        .iter()
        .map(|s| s.visible + s.waiting_in_groups)
        .collect();
    assert_eq!(per.iter().sum::<u64>(), 50);
    assert!(per.iter().filter(|n| **n > 0).count() >= 4, "{per:?}");
    assert_eq!(q.stats().sends, 50);
}

#[test]
fn per_key_order_holds_across_retries() {
    let q: PartitionedQueue<u32> = PartitionedQueue::builder().partitions(3).build().unwrap();
    for i in 0..5 {
        q.send("user-9", i).unwrap();
    }
    let mut seen = Vec::new();
    let mut fail_once = true;
    while seen.len() < 5 {
        let d = q.try_receive_any(0).unwrap();
        if *d.body() == 2 && fail_once {
            fail_once = false;
            q.nack(d.receipt()).unwrap();
            continue;
        }
        seen.push(*d.body());
        q.ack(d.receipt()).unwrap();
    }
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
}

#[test]
fn receipts_route_to_their_partition_and_foreign_ones_fail() {
    let q: PartitionedQueue<&str> = PartitionedQueue::builder()
        .partitions(4)
        .group_by_key(false)
        .queue(Queue::builder().max_receives(1))
        .build()
        .unwrap();
    for k in ["a", "b", "c", "d", "e"] {
        q.send_message(k, Message::new(k)).unwrap();
    }
    let mut all = Vec::new();
    for start in 0..5 {
        all.push(q.try_receive_any(start).unwrap());
    }
    assert_eq!(q.try_receive_any(0).unwrap_err(), Error::Empty);
    q.extend(all[0].receipt(), std::time::Duration::from_secs(5))
        .unwrap();
    q.nack_with_error(all[1].receipt(), "bad").unwrap();
    for d in &all[2..] {
        q.ack(d.receipt()).unwrap();
    }
    let other: Queue<&str> = Queue::builder().build().unwrap();
    other.send("x").unwrap();
    let foreign = other.try_receive().unwrap();
    assert_eq!(
        q.ack(foreign.receipt()),
        Err(Error::StaleReceipt(foreign.id()))
    );
    let s = q.stats();
    assert_eq!((s.acks, s.dead_letters, s.in_flight), (3, 1, 1));
    q.close();
    q.ack(all[0].receipt()).unwrap();
    assert_eq!(q.try_receive_any(0).unwrap_err(), Error::Closed);
    assert_eq!(q.len(), 4);
    assert!(q.partition(4).is_none());
}
