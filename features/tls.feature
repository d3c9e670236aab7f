@tls
Feature: connect_mode selects TLS or plain TCP to the broker
  4002's connect_mode is 0 (TCP) or 1 (SSL) (spec 2; PROTOCOL-NOTES "MQTT session"). The
  wire tap looks at how each connection from the plug opens, terminates TLS with a
  certificate of its own, and judges the decrypted session as any other. The protocol
  provisions no CA, so no scenario expects the plug to check the broker's certificate.

  @needs_tls @rule-tls-connect @rule-session-connect @rule-session-qos
  Scenario Outline: With connect_mode 1 the session runs over TLS (QoS <qos>)
    Given a plug provisioned over TLS with QoS <qos>, keepalive <keepalive> and clean session <clean>
    Then the tap completed a TLS handshake with the plug
    And the CONNECT packet carries the provisioned credentials, keepalive and clean session
    And every publish from the plug uses QoS <qos>
    And the QoS <qos> flow completes for the plug's publishes
    And the plug subscribes to the five app topics

    Examples:
      | qos | keepalive | clean |
      | 1   | 60        | 1     |
      | 2   | 120       | 0     |

  @slow @needs_tls @rule-tls-no-clear @rule-switch-on-connect
  Scenario: With connect_mode 1 no connection opens in clear, reconnections included
    Given a plug provisioned over TLS with QoS 1, keepalive 60 and clean session 1
    When the broker is unreachable for 3 s
    Then the plug reconnects and publishes switch_state again
    And every connection of the plug to the broker opened with a TLS ClientHello

  @slow @rule-tls-not-unasked
  Scenario: With connect_mode 0 the plug never starts TLS
    Given a plug provisioned with QoS 1, keepalive 60 and clean session 1
    When the broker is unreachable for 3 s
    Then the plug reconnects and publishes switch_state again
    And no connection of the plug to the broker started TLS
