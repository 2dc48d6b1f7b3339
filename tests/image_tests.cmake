# Image files: gc_image_read against OpenCV goldens (one test per golden, byte-exact), its
# errors, gc_image_write (round trips, atomic replacement, threads), and cv2 reading what we
# write. Goldens: golden/images/, made by golden/make_image_goldens.py. Public API only.
find_package(Threads REQUIRED)
set(GC_IMAGE_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GC_IMAGE_GOLDEN_DIR ${GC_IMAGE_TEST_DIR}/golden/images)

add_executable(test_image_io ${GC_IMAGE_TEST_DIR}/test_image_io.c)
target_link_libraries(test_image_io PRIVATE gradcam Threads::Threads m)
target_compile_options(test_image_io PRIVATE -Wall -Wextra -Werror)

# X.png / X.jpg beside X.png.ppm / X.jpg.ppm (what cv2.imread gives, in RGB)
file(GLOB GC_IMAGE_GOLDENS ${GC_IMAGE_GOLDEN_DIR}/*.ppm)
foreach(ppm ${GC_IMAGE_GOLDENS})
  string(REGEX REPLACE "\\.ppm$" "" image ${ppm})
  get_filename_component(case ${image} NAME)
  add_test(NAME image_read_${case} COMMAND test_image_io read ${image} ${ppm})
  set_tests_properties(image_read_${case} PROPERTIES LABELS cpu)
endforeach()

add_test(NAME image_read_errors COMMAND test_image_io errors ${GC_IMAGE_GOLDEN_DIR})
add_test(NAME image_write COMMAND test_image_io write)
# the same with named temporary files and rename, the way where O_TMPFILE is missing
add_test(NAME image_write_renamed COMMAND test_image_io write)
set_tests_properties(image_write_renamed PROPERTIES ENVIRONMENT GC_ATOMIC_WRITE=rename)
set_tests_properties(image_read_errors image_write image_write_renamed PROPERTIES LABELS cpu
  TIMEOUT 300)

# cv2.imread must read our PNGs as the source pixels and our JPEGs as gc_image_read does
# (exit 77 = skipped where the system python has no cv2).
find_program(GC_IMAGE_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(GC_IMAGE_PYTHON)
  add_test(NAME image_write_cv2
    COMMAND ${GC_IMAGE_PYTHON} ${GC_IMAGE_TEST_DIR}/golden/make_image_goldens.py
            --check-written $<TARGET_FILE:test_image_io> ${CMAKE_CURRENT_BINARY_DIR}/image_write_cv2)
  set_tests_properties(image_write_cv2 PROPERTIES LABELS cpu SKIP_RETURN_CODE 77)
endif()
