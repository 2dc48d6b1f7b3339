# The gradcam command end to end (tests/cli/test_cli.py), including 10,000 small files, under
# mpirun (tests/cli/test_mpi.py: skipped, exit 77, unless built with GC_WITH_MPI), and short
# of threads (tests/cli/test_thread_start.py).
if(GC_SYSTEM_PYTHON)
  add_test(NAME cli_end_to_end
    COMMAND ${GC_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_cli.py
            $<TARGET_FILE:gradcam_cli> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/cli_test)
  set_tests_properties(cli_end_to_end PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 600)
  add_test(NAME cli_mpi
    COMMAND ${GC_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_mpi.py
            $<TARGET_FILE:gradcam_cli> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/cli_mpi)
  set_tests_properties(cli_mpi PROPERTIES LABELS cpu SKIP_RETURN_CODE 77 TIMEOUT 300)
  # ... and when it cannot start all its threads: pthread_create failing past a count
  # (fail_pthread_create.c, preloaded)
  add_library(gc_fail_pthread_create MODULE ${CMAKE_CURRENT_LIST_DIR}/fail_pthread_create.c)
  target_link_libraries(gc_fail_pthread_create PRIVATE ${CMAKE_DL_LIBS})
  target_compile_options(gc_fail_pthread_create PRIVATE -Wall -Wextra -Werror)
  add_test(NAME cli_thread_start
    COMMAND ${GC_SYSTEM_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_thread_start.py
            $<TARGET_FILE:gradcam_cli> $<TARGET_FILE:gc_fail_pthread_create> ${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_BINARY_DIR}/cli_thread_start)
  set_tests_properties(cli_thread_start PROPERTIES LABELS cpu TIMEOUT 600)
endif()
