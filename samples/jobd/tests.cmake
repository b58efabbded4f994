# hive-jobd end to end (samples/jobd/tests): pytest starts the built
# hive-jobd ($HIVE_JOBD) on free ports with fresh databases, as
# python_client does with gateway_node. Include this file from the top
# CMakeLists.txt after find_program(HIVE_PYTHON ...) and the hive-jobd target:
#   include(${PROJECT_SOURCE_DIR}/samples/jobd/tests.cmake)
# The full-disk test mounts a 1 MB tmpfs: as root it runs, else it is skipped.
if(HIVE_PYTHON AND HIVE_BUILD_TESTS)
  add_test(NAME jobd_e2e COMMAND ${HIVE_PYTHON} -m pytest -q -p no:cacheprovider
           ${PROJECT_SOURCE_DIR}/samples/jobd/tests)
  set_tests_properties(jobd_e2e PROPERTIES TIMEOUT 600
    ENVIRONMENT "PYTHONPATH=${PROJECT_SOURCE_DIR}/clients/python:${PROJECT_SOURCE_DIR}/samples/jobd;HIVE_JOBD=$<TARGET_FILE:hive-jobd>;HIVECTL=$<TARGET_FILE:hivectl>")
endif()

# bench/jobd.py at tiny sizes, so that it never rots (figures: the README).
if(HIVE_PYTHON)
  add_test(NAME bench_jobd_runs COMMAND ${HIVE_PYTHON} ${PROJECT_SOURCE_DIR}/bench/jobd.py
           --jobd $<TARGET_FILE:hive-jobd> --tiny 800 --latency 20 --ranges 4 --size 2000 --no-pool)
  set_tests_properties(bench_jobd_runs PROPERTIES TIMEOUT 120
    PASS_REGULAR_EXPRESSION "RESULT peer=hive bench=jobd_primes n=4 ")
endif()
