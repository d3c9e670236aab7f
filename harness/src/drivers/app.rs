//! The app side: a rumqttc client on the same broker, as the vendor's phone app would be.
//! It subscribes to `{prefix}/device/#` and publishes on `{prefix}/app/...`; everything it
//! receives and sends goes onto the timeline. It reaches the broker through a loopback
//! forwarder of its own ([`Forwarder`]) that acknowledges the broker's data at once
//! (`drivers::tap::forward` says why).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, Event as MqEvent, MqttOptions, NetworkOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::drivers::broker::BrokerInfo;
use crate::drivers::tap::forward::Forwarder;
use crate::drivers::timeline::{Event, Timeline};

static NEXT: AtomicU32 = AtomicU32::new(1);

pub struct App {
    client: AsyncClient,
    acks: mpsc::UnboundedReceiver<u16>,
    task: JoinHandle<()>,
    timeline: Arc<Timeline>,
    /// Between the client and the broker; dropped (its connection closed) after the task.
    _forwarder: Forwarder,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl App {
    pub async fn connect(b: &BrokerInfo, timeline: Arc<Timeline>) -> anyhow::Result<App> {
        let id = format!(
            "plugrig-app-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let forwarder = Forwarder::start(b.addr).await?;
        let mut o = MqttOptions::new(id, forwarder.addr.ip().to_string(), forwarder.addr.port());
        o.set_credentials(b.username.clone(), b.password.clone());
        o.set_keep_alive(Duration::from_secs(30));
        o.set_clean_session(true);
        // The broker's own limit (64 KiB payloads): the fuzzer's oversized publishes reach it.
        o.set_max_packet_size(80 * 1024, 80 * 1024);
        let (client, mut eventloop) = AsyncClient::new(o, 64);
        // Small packets leave at once (`drivers::tap::forward` says why).
        let mut net = NetworkOptions::new();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let (up_tx, mut up_rx) = mpsc::unbounded_channel::<Result<(), String>>();
        let tl = timeline.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(MqEvent::Incoming(Packet::ConnAck(_))) => {
                        let _ = up_tx.send(Ok(()));
                    }
                    Ok(MqEvent::Incoming(Packet::SubAck(s))) => {
                        let _ = ack_tx.send(s.pkid);
                    }
                    // A message delivered with the retain flag is the broker's copy of an
                    // earlier one (a broker clears the flag on live forwards, MQTT 3.1.1
                    // 3.3.1.3): marked on the timeline, never counted as this scenario's.
                    Ok(MqEvent::Incoming(Packet::Publish(p))) if p.retain => tl.push(Event::Note(format!(
                        "app<- {} {} (delivered as retained: an earlier message, not this scenario's)",
                        p.topic,
                        String::from_utf8_lossy(&p.payload)
                    ))),
                    Ok(MqEvent::Incoming(Packet::Publish(p))) => tl.push(Event::AppReceived {
                        topic: p.topic.clone(),
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                    }),
                    Ok(_) => {}
                    Err(e) => {
                        let _ = up_tx.send(Err(e.to_string()));
                        tl.push(Event::Note(format!("app client: {e}")));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        let up = tokio::time::timeout(Duration::from_secs(10), up_rx.recv())
            .await
            .context("the app client got no CONNACK within 10 s")?;
        match up {
            Some(Ok(())) => {}
            Some(Err(e)) => anyhow::bail!("the app client could not connect to the broker: {e}"),
            None => anyhow::bail!("the app client stopped"),
        }
        Ok(App {
            client,
            acks,
            task,
            timeline,
            _forwarder: forwarder,
        })
    }

    /// Subscribes and waits for the SUBACK, so nothing published after it is missed.
    pub async fn subscribe(&mut self, filter: &str) -> anyhow::Result<()> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        tokio::time::timeout(Duration::from_secs(10), self.acks.recv())
            .await
            .with_context(|| format!("no SUBACK for {filter} within 10 s"))?
            .context("the app client stopped")?;
        Ok(())
    }

    /// Publishes any bytes at any QoS (the fuzzer's inputs: not UTF-8, oversized, QoS 2).
    pub async fn publish_bytes(&self, topic: &str, qos: u8, payload: &[u8]) -> anyhow::Result<()> {
        self.timeline.push(Event::AppSent {
            topic: topic.into(),
            payload: String::from_utf8_lossy(payload).into_owned(),
        });
        let qos = rumqttc::qos(qos).map_err(|e| anyhow::anyhow!("QoS {qos}: {e}"))?;
        self.client.publish(topic, qos, false, payload.to_vec()).await?;
        Ok(())
    }

    pub async fn publish(&self, topic: &str, payload: &str) -> anyhow::Result<()> {
        self.timeline.push(Event::AppSent {
            topic: topic.into(),
            payload: payload.into(),
        });
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .await?;
        Ok(())
    }
}
