@ota
Feature: Upgrades over the air and their results R1-R4
  app/upgrade names an HTTP server; the plug fetches {catalogue}{image}, checks it, and
  reports ota_upgrade_state: R1 installed, R2 server reached but the upgrade failed, R3
  server unreachable, R4 name not resolved (spec 3.2.4, 3.3.4; PROTOCOL-NOTES). A failed
  upgrade leaves the old firmware running. The plug's version string and image format are
  its own: the version is read from firmware_infor before each upgrade, and the rig file
  gives the image and the version it carries.

  Background:
    Given a provisioned plug connected to the broker

  @rule-ota-r1 @needs_ota_image
  Scenario: R1: a newer image by IP address is installed and runs
    Given the update server offers a newer firmware image
    When the app requests the upgrade by IP address
    Then the plug reports ota_result R1 within 30 s
    And the update server saw the plug's request
    And the plug restarts and firmware_infor shows the new image's version

  @rule-ota-r1 @needs_ota_image @needs_rig_dns
  Scenario: R1: a newer image by domain name
    Given the update server offers a newer firmware image
    When the app requests the upgrade by name
    Then the plug reports ota_result R1 within 30 s
    And the plug restarts and firmware_infor shows the new image's version

  @rule-ota-r2 @rule-ota-keeps-old
  Scenario Outline: R2: the server answers HTTP <code>
    Given the update server answers HTTP <code>
    When the app requests the upgrade by IP address
    Then the plug reports ota_result R2 within 10 s
    And the plug still runs the firmware version it reported before

    Examples:
      | code |
      | 404  |
      | 500  |

  @rule-ota-r2 @rule-ota-keeps-old @needs_ota_image
  Scenario: R2: a truncated image
    Given the update server offers a truncated image
    When the app requests the upgrade by IP address
    Then the plug reports ota_result R2 within 30 s
    And the plug still runs the firmware version it reported before

  @rule-ota-r2 @rule-ota-keeps-old @needs_ota_broken_image
  Scenario: R2: an image with a corrupt checksum
    Given the update server offers an image with a corrupt checksum
    When the app requests the upgrade by IP address
    Then the plug reports ota_result R2 within 30 s
    And the plug still runs the firmware version it reported before

  @rule-ota-r2 @rule-ota-keeps-old @needs_ota_other_target
  Scenario: R2: an image for another target
    Given the update server offers an image for another target
    When the app requests the upgrade by IP address
    Then the plug reports ota_result R2 within 10 s
    And the plug still runs the firmware version it reported before

  @profile @rule-ota-stall @rule-ota-keeps-old @needs_ota_image
  Scenario: R2: a stalled transfer
    Given the update server stalls the transfer
    When the app requests the upgrade by IP address
    Then the plug abandons the stalled transfer with ota_result R2 within 25 s
    And the plug still runs the firmware version it reported before

  @rule-ota-r3 @rule-ota-keeps-old
  Scenario: R3: nothing listens on the update port
    When the app requests an upgrade from a port where nothing listens
    Then the plug reports ota_result R3 within 15 s
    And the plug still runs the firmware version it reported before

  @rule-ota-r4 @rule-ota-keeps-old
  Scenario: R4: the name does not resolve
    When the app requests an upgrade from the name nowhere.plugrig.test
    Then the plug reports ota_result R4 within 10 s
    And the plug still runs the firmware version it reported before

  @profile @rule-ota-r4-realm @rule-ota-keeps-old
  Scenario Outline: R4: a type-0 realm that is not an IP address (<realm>)
    When the app requests an upgrade of type 0 from the realm "<realm>"
    Then the plug reports ota_result R4 within 5 s
    And the plug still runs the firmware version it reported before

    Examples:
      | realm           |
      | fw.plugrig.test |
      | 127.0.0.1:80    |
      | 256.1.1.1       |
