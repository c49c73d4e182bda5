-- One database per service (SPEC §4).
CREATE DATABASE registry;
CREATE DATABASE survey;
CREATE DATABASE complaints;
