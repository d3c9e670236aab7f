@session
Feature: The plug's MQTT session honours what was provisioned
  The plug connects with the provisioned username, password, keepalive and clean
  session, and publishes at the provisioned QoS (spec 2.2; PROTOCOL-NOTES "MQTT session").
  Checked on the wire tap between the plug and the broker.

  @rule-session-connect @rule-session-qos
  Scenario Outline: CONNECT and publishes match the provisioning (QoS <qos>, clean session <clean>)
    Given a plug provisioned with QoS <qos>, keepalive <keepalive> and clean session <clean>
    Then the CONNECT packet carries the provisioned credentials, keepalive and clean session
    And every publish from the plug uses QoS <qos>
    And the QoS <qos> flow completes for the plug's publishes

    Examples:
      | qos | keepalive | clean |
      | 0   | 60        | 1     |
      | 1   | 90        | 0     |
      | 2   | 120       | 1     |

  @slow @profile @rule-session-refused
  Scenario: Wrong credentials are refused and the plug retries at a sane pace
    Given a plug provisioned with a wrong broker password
    Then the broker refuses the plug, which retries no faster than once a second, 3 times

  @slow @rule-switch-on-connect
  Scenario: After a broker outage the plug reconnects and republishes switch_state
    Given a provisioned plug connected to the broker
    When the broker is unreachable for 3 s
    Then the plug reconnects and publishes switch_state again

  @slow @profile @rule-session-reconnect
  Scenario: After a broker outage the plug reconnects with a sane back-off
    Given a provisioned plug connected to the broker
    When the broker is unreachable for 3 s
    Then the plug reconnects, retrying no faster than once a second and no slower than once a minute
