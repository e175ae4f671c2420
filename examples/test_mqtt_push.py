"""paho-mqtt subscribed to a broker double that pushes a PUBLISH after the SUBSCRIBE."""

from __future__ import annotations

import queue
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from examples.mqtt import CONNECT, DISCONNECT, SUBSCRIBE, MqttPackets, connack, packet_type, publish, suback
from socketdouble.doubles import Doubles


def test_a_pushed_publish_reaches_the_subscriber(socketdouble: Doubles) -> None:
    broker = socketdouble.tcp(framing=MqttPackets())
    broker.on(packet_type(CONNECT)).reply(connack())
    broker.on(packet_type(SUBSCRIBE)).reply(suback)
    broker.on(packet_type(DISCONNECT)).reply(lambda _: None)

    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="thermostat")
    client.on_connect = lambda c, userdata, flags, code, props: c.subscribe("sensors/+/temperature")

    def on_message(c: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received.put((message.topic, bytes(message.payload)))

    client.on_message = on_message
    host, port = broker.address
    client.connect(host, port, keepalive=60)
    client.loop_start()
    try:
        connect, subscribe = broker.wait_for_requests(2)
        assert b"thermostat" in connect and b"sensors/+/temperature" in subscribe
        # The broker talks first; the push follows the SUBACK, as a real broker's would.
        broker.send(publish("sensors/kitchen/temperature", b"21.5"))
        assert received.get(timeout=5) == ("sensors/kitchen/temperature", b"21.5")
    finally:
        client.disconnect()
        client.loop_stop()
    sent = broker.recording.connections[0].sent
    assert sent == connack() + suback(subscribe) + publish("sensors/kitchen/temperature", b"21.5")
