// The Azure environment of the MLOps reference architecture: storage, key vault, Log Analytics,
// Application Insights, container registry and an Azure Machine Learning workspace linked to them.
// Kept equivalent to main.json (the compiled ARM template that `mlops infra deploy` sends).

@description('Prefix of every resource name: 3 to 10 lower-case letters or digits.')
@minLength(3)
@maxLength(10)
param baseName string

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Replication of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
])
param storageSku string = 'Standard_LRS'

@description('SKU of the container registry.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param containerRegistrySku string = 'Basic'

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

var suffix = take(uniqueString(resourceGroup().id), 6)
var storageAccountName = take(toLower(format('st{0}{1}', baseName, suffix)), 24)
var keyVaultName = take(format('kv-{0}-{1}', baseName, suffix), 24)
var logAnalyticsName = format('log-{0}-{1}', baseName, suffix)
var applicationInsightsName = format('appi-{0}-{1}', baseName, suffix)
var containerRegistryName = take(toLower(format('cr{0}{1}', baseName, suffix)), 50)
var workspaceName = format('mlw-{0}-{1}', baseName, suffix)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  sku: {
    name: storageSku
  }
  kind: 'StorageV2'
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    encryption: {
      keySource: 'Microsoft.Storage'
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
      }
    }
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
  }
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionInDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: containerRegistryName
  location: location
  sku: {
    name: containerRegistrySku
  }
  properties: {
    adminUserEnabled: false
  }
}

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' = {
  name: workspaceName
  location: location
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    friendlyName: workspaceName
    storageAccount: storage.id
    keyVault: vault.id
    applicationInsights: insights.id
    containerRegistry: registry.id
  }
}

output storageAccountName string = storage.name
output storageAccountId string = storage.id
output keyVaultName string = vault.name
output keyVaultId string = vault.id
output applicationInsightsName string = insights.name
output applicationInsightsId string = insights.id
output containerRegistryName string = registry.name
output containerRegistryId string = registry.id
output workspaceName string = workspace.name
output workspaceId string = workspace.id
