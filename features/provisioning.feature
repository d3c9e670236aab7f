@provisioning
Feature: Provisioning over the plug's AP socket
  The phone app configures a factory-fresh plug over TCP: 4001 asks who it is,
  4002 gives the broker, 4003 gives the network (spec 2; PROTOCOL-NOTES "AP socket").

  Background:
    Given a factory-fresh plug

  @rule-ap-identity @rule-ap-envelope
  Scenario: The plug reports its identity
    When the app requests the device information
    Then the reply has code 0 and header 4001
    And the reply carries the device identity

  @rule-ap-code-3 @rule-ap-envelope
  Scenario: The network before the broker is an order error
    When the app requests the device information
    And the app sends the network configuration
    Then the reply has code 3 and header 4003

  @rule-ap-join @rule-session-subscribe @rule-topic-format @rule-switch-on-connect
  Scenario: The plug reaches the broker after 4002 then 4003
    When the app requests the device information
    And the app sends the broker configuration with QoS 1, keepalive 60 and clean session 1
    Then the reply has code 0 and header 4002
    When the app sends the network configuration
    Then the reply has code 0 and header 4003
    And the plug connects to the broker within 10 s
    And the plug subscribes to the five app topics
    And the plug publishes switch_state on connection
