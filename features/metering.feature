@metering
Feature: Power metering against a reference meter
  A plug of device_type "1" publishes electricity_information every second: voltage in
  0.1 V, current in mA, power in W, as JSON integers (spec 3.2.6; PROTOCOL-NOTES). Each
  sample must agree with the rig's reference meter within the meter's class plus the
  accuracy the plug claims (both from the rig file). Without a reference meter wrong units
  still show by physics: the voltage inside the rig's mains range, power no more than
  voltage x current, and a known load's power within the claim. A plug of device_type "0"
  never publishes it.

  @needs_reference_meter @needs_load_control @needs_power_monitoring @rule-electricity-accuracy @rule-electricity-format
  Scenario: Samples agree with the reference meter with the relay on
    Given a provisioned plug connected to the broker
    And a load of 100 W on the plug
    When the app switches the plug on
    Then the plug reports switch_state on
    And electricity_information agrees with the reference meter, 5 samples in a row

  @profile @needs_reference_meter @needs_load_control @needs_power_monitoring @rule-electricity-accuracy
  Scenario: A larger load
    Given a provisioned plug connected to the broker
    And a load of 2000 W on the plug
    When the app switches the plug on
    Then the plug reports switch_state on
    And electricity_information agrees with the reference meter, 3 samples in a row

  @rule-electricity-units @rule-electricity-format @needs_power_monitoring
  Scenario: Samples are plausible in the protocol's units, with or without a reference meter
    Given a provisioned plug connected to the broker
    And the plug's relay is on
    Then electricity_information is physically plausible in its units, 5 samples in a row

  @rule-electricity-cadence @rule-electricity-format @needs_power_monitoring
  Scenario: electricity_information comes every second
    Given a provisioned plug connected to the broker
    Then electricity_information arrives every second within tolerance, 5 times in a row

  @profile @rule-electricity-relay-off @needs_power_monitoring @needs_load_control
  Scenario: Relay off gives zero power within 2 s
    Given a provisioned plug connected to the broker
    And a load of 100 W on the plug
    When the app switches the plug on
    Then the plug reports switch_state on
    When the app switches the plug off
    Then the plug reports zero current and power within 2 s

  @profile @rule-electricity-type0 @needs_sim
  Scenario: A plug without power monitoring never publishes electricity_information
    Given a provisioned plug without power monitoring
    Then no electricity_information arrives for 5 s
