# ctest label "deploy": offline checks of docker/, docker-compose.yml, k8s/ and scripts/.
find_program(NODE_EXE node)
if(NODE_EXE)
  foreach(mode manifests lint negative scripts)
    add_test(NAME deploy_${mode} COMMAND ${NODE_EXE} ${CMAKE_CURRENT_LIST_DIR}/check.mjs ${mode}
             WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR})
    set_tests_properties(deploy_${mode} PROPERTIES LABELS deploy TIMEOUT 120)
  endforeach()
else()
  message(WARNING "node not found: deploy checks are not registered")
endif()

# docs/configuration.md is generated from the daemons' --help: it must match the binaries.
add_test(NAME docs_configuration_in_sync
         COMMAND ${PROJECT_SOURCE_DIR}/scripts/gen-config-doc.sh --check ${CMAKE_BINARY_DIR}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(docs_configuration_in_sync PROPERTIES LABELS deploy TIMEOUT 60)
