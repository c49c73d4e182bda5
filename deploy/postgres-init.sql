-- One database per service.
CREATE DATABASE registry;
CREATE DATABASE survey;
CREATE DATABASE complaints;
