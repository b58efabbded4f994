# samples/jobd/unit.cmake - the check of jobd's deployment files: its
# systemd unit (systemd-analyze verify), the unit's flags and the sample
# config against the built hive-jobd. Skipped (77) without systemd-analyze.
# Included from the top CMakeLists.txt after hive-jobd and enable_testing():
#   include(samples/jobd/unit.cmake)
add_test(NAME jobd_unit
         COMMAND ${PROJECT_SOURCE_DIR}/samples/jobd/check-unit.sh $<TARGET_FILE:hive-jobd>)
set_tests_properties(jobd_unit PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60)
