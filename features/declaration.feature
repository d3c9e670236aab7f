@claims
Feature: The plug is what its declaration claims
  A plug's declaration (plugs/*.toml, `rig::declaration`) says what it is: its device_type,
  its identity, TLS, its firmware. The rig trusts it to choose what to judge, so before
  anything else the claims are checked against the plug itself, as Matter's TC-IDM-10.4
  checks a device's PICS: a plug that claims what it does not do fails here, by name.
  These scenarios start first.

  @rule-declared-claims @rule-ap-identity
  Scenario: The 4001 reply is what the plug declares
    Given a factory-fresh plug
    When the app requests the device information
    Then the reply has code 0 and header 4001
    And the 4001 reply is what the plug's declaration claims

  @needs_tls @rule-declared-claims
  Scenario: A plug that declares TLS takes connect_mode 1
    Given a plug provisioned over TLS with QoS 1, keepalive 60 and clean session 1
    Then the tap completed a TLS handshake with the plug

  @needs_declared_firmware @rule-declared-claims @rule-firmware-infor
  Scenario: firmware_infor reports the declared firmware
    Given a provisioned plug connected to the broker
    When the app requests the firmware information with payload ""
    Then firmware_infor is what the plug's declaration claims
