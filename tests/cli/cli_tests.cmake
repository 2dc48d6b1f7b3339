# The gradcam command end to end (tests/cli/test_cli.py), including 10,000 small files, and
# under mpirun (tests/cli/test_mpi.py: skipped, exit 77, unless built with GC_WITH_MPI).
if(GC_SYSTEM_PYTHON)
  add_test(NAME cli_end_to_end
    COMMAND ${GC_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_cli.py
            $<TARGET_FILE:gradcam_cli> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/cli_test)
  set_tests_properties(cli_end_to_end PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 600)
  add_test(NAME cli_mpi
    COMMAND ${GC_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_mpi.py
            $<TARGET_FILE:gradcam_cli> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/cli_mpi)
  set_tests_properties(cli_mpi PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
